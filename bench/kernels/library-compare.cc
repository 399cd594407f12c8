// Side by side on one thread: the per-step recurrent product h_{t-1}·U of an LSTM layer (and the
// whole layer forward), from rnn-train's hand kernel, libxsmm (Debian 1.17) and oneDNN (Debian 2.6).
// Not part of the product: the libraries are Debian's, installed only for this measurement.
//
//   apt-get install libxsmm-dev libdnnl-dev
//   cd src/install/recurrence
//   g++ -std=c++17 -O3 -fopenmp -I. ../../../bench/kernels/library-compare.cc team.cc isa.cc
//     isa_generic.cc isa_avx2.cc isa_avx512.cc isa_avx512bf16.cc -o /tmp/library-compare
//     /usr/lib/libxsmm.a /usr/lib/libxsmmnoblas.a -ldnnl -lpthread -ldl
//   OMP_NUM_THREADS=1 /tmp/library-compare T B H [reps [isa]]
//   OMP_NUM_THREADS=1 ONEDNN_MAX_CPU_ISA=AVX2 LIBXSMM_TARGET=hsw /tmp/library-compare T B H 5 avx2
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <vector>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.hpp>
#include "recurrence.h"
#include "team.h"
using namespace rnn;
using Clock = std::chrono::steady_clock;
static double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

int main(int argc, char **argv) {
  const int64_t T = atoi(argv[1]), B = atoi(argv[2]), H = atoi(argv[3]);
  const int reps = argc > 4 ? atoi(argv[4]) : 5;
  const double step_flops = 2.0 * B * H * 4 * H, chunk_flops = T * step_flops;
  std::vector<float> U(H * 4 * H), P(T * B * 4 * H), h(T * B * H), c0(B * H), W(H * 4 * H), bias(4 * H);
  srand(1);
  for (auto *v : {&U, &P, &h, &c0, &W, &bias}) for (float &x : *v) x = (float)rand() / RAND_MAX * 0.2f - 0.1f;
  std::vector<float> out(T * B * 4 * H);
  // Hand kernel: forward over the chunk (products + gate maths).
  const LstmKernels *k = FindKernels(argc > 5 ? argv[5] : "avx512");
  std::vector<float> o[7];
  for (auto &v : o) v.assign(T * B * H, 0);
  std::vector<float> scratch(k->scratch_floats(B, H, 1));
  LstmForwardArgs fa{T, B, H, U.data(), P.data(), nullptr, bias.data(), h.data(), c0.data(), o[0].data(), o[1].data(), o[2].data(), o[3].data(), o[4].data(), o[5].data(), o[6].data(), scratch.data()};
  Team &team = Team::ForThisThread(1);
  k->forward(fa, team);
  auto t0 = Clock::now();
  for (int r = 0; r < reps; r++) k->forward(fa, team);
  const double hand = Seconds(t0) / reps;
  // libxsmm: the per-step product alone, C[4H x B] = U^T[4H x H] . h^T[H x B] column-major, one JIT kernel per step shape.
  libxsmm_init();
  const float alpha = 1, beta = 0;
  const libxsmm_blasint m = 4 * H, n = B, kk = H, lda = 4 * H, ldb = H, ldc = 4 * H;
  libxsmm_smmfunction whole = libxsmm_smmdispatch(m, n, kk, &lda, &ldb, &ldc, &alpha, &beta, nullptr, nullptr);
  const libxsmm_blasint mb = 64;
  libxsmm_smmfunction block = libxsmm_smmdispatch(mb, n, kk, &lda, &ldb, &ldc, &alpha, &beta, nullptr, nullptr);
  auto xsmm_step = [&](int64_t t) {
    const float *hp = h.data() + (t > 0 ? (t - 1) * B * H : 0);
    float *cp = out.data() + t * B * 4 * H;
    if (whole) whole(U.data(), hp, cp);
    else for (libxsmm_blasint i = 0; i < m; i += mb) block(U.data() + i, hp, cp + i);
  };
  for (int64_t t = 0; t < T; t++) xsmm_step(t);
  t0 = Clock::now();
  for (int r = 0; r < reps; r++) for (int64_t t = 0; t < T; t++) xsmm_step(t);
  const double xsmm = Seconds(t0) / reps;
  // oneDNN sgemm per step (row-major): out_t[B, 4H] = h_{t-1}[B, H] . U[H, 4H].
  auto dnnl_step = [&](int64_t t) {
    dnnl_sgemm('N', 'N', B, 4 * H, H, 1.0f, h.data() + (t > 0 ? (t - 1) * B * H : 0), H, U.data(), 4 * H, 0.0f, out.data() + t * B * 4 * H, 4 * H);
  };
  for (int64_t t = 0; t < T; t++) dnnl_step(t);
  t0 = Clock::now();
  for (int r = 0; r < reps; r++) for (int64_t t = 0; t < T; t++) dnnl_step(t);
  const double sgemm = Seconds(t0) / reps;
  // oneDNN's LSTM primitive, forward training, the whole layer (input H): its time against the hand
  // kernel's plus one chunk-wide sgemm for the input projection.
  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  using tag = memory::format_tag;
  using dt = memory::data_type;
  memory::desc src_md({T, B, H}, dt::f32, tag::tnc), dst_md({T, B, H}, dt::f32, tag::tnc), state_md({1, 1, B, H}, dt::f32, tag::ldnc);
  memory::desc wl_md({1, 1, H, 4, H}, dt::f32, tag::any), wi_md({1, 1, H, 4, H}, dt::f32, tag::any), b_md({1, 1, 4, H}, dt::f32, tag::ldgo);
  lstm_forward::desc desc(prop_kind::forward_training, rnn_direction::unidirectional_left2right, src_md, state_md, state_md, wl_md, wi_md, b_md, dst_md, state_md, state_md);
  lstm_forward::primitive_desc pd(desc, eng);
  memory src(src_md, eng, h.data()), dst(dst_md, eng), hx(state_md, eng), cx(state_md, eng), hy(state_md, eng), cy(state_md, eng);
  memory wl(pd.weights_layer_desc(), eng), wi(pd.weights_iter_desc(), eng), bm(b_md, eng, bias.data()), ws(pd.workspace_desc(), eng);
  memory user_w({{1, 1, H, 4, H}, dt::f32, tag::ldigo}, eng, W.data()), user_u({{1, 1, H, 4, H}, dt::f32, tag::ldigo}, eng, U.data());
  reorder(user_w, wl).execute(s, user_w, wl);
  reorder(user_u, wi).execute(s, user_u, wi);
  lstm_forward prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC_LAYER, src}, {DNNL_ARG_SRC_ITER, hx}, {DNNL_ARG_SRC_ITER_C, cx}, {DNNL_ARG_WEIGHTS_LAYER, wl},
                                       {DNNL_ARG_WEIGHTS_ITER, wi}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST_LAYER, dst}, {DNNL_ARG_DST_ITER, hy},
                                       {DNNL_ARG_DST_ITER_C, cy}, {DNNL_ARG_WORKSPACE, ws}};
  prim.execute(s, args);
  s.wait();
  t0 = Clock::now();
  for (int r = 0; r < reps; r++) prim.execute(s, args);
  s.wait();
  const double primitive = Seconds(t0) / reps;
  dnnl_sgemm('N', 'N', T * B, 4 * H, H, 1.0f, h.data(), H, W.data(), 4 * H, 0.0f, out.data(), 4 * H);
  t0 = Clock::now();
  for (int r = 0; r < reps; r++) dnnl_sgemm('N', 'N', T * B, 4 * H, H, 1.0f, h.data(), H, W.data(), 4 * H, 0.0f, out.data(), 4 * H);
  const double projection = Seconds(t0) / reps;
  printf("T=%lld B=%lld H=%lld (%s, one thread; recurrent products %.1f MFLOP a chunk)\n", (long long)T, (long long)B, (long long)H, k->isa, chunk_flops / 1e6);
  printf("  hand kernel, chunk forward (products + gates): %7.3f ms  %6.1f GFLOP/s\n", hand * 1e3, chunk_flops / hand / 1e9);
  printf("  libxsmm %s, per-step product only:     %7.3f ms  %6.1f GFLOP/s\n", whole ? "one kernel" : "64-row blocks", xsmm * 1e3, chunk_flops / xsmm / 1e9);
  printf("  oneDNN sgemm, per-step product only:          %7.3f ms  %6.1f GFLOP/s\n", sgemm * 1e3, chunk_flops / sgemm / 1e9);
  printf("  layer forward (input H): oneDNN LSTM primitive %7.3f ms; hand kernel + one sgemm projection %7.3f ms (%.3f + %.3f)\n", primitive * 1e3,
         (hand + projection) * 1e3, hand * 1e3, projection * 1e3);
}
