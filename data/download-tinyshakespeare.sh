#!/usr/bin/env bash
# Downloads tiny-shakespeare (Karpathy's char-rnn corpus, 1,115,394 bytes) and checks its SHA-256,
# so that results are comparable with other char-rnn tools. Needs curl and internet access.
# Usage: data/download-tinyshakespeare.sh [output path]   (default: data/tinyshakespeare.txt)
set -euo pipefail
url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
out="${1:-$(dirname "$0")/tinyshakespeare.txt}"
tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
curl --fail --location --silent --show-error --output "$tmp" "$url"
actual="$(sha256sum "$tmp" | cut -d' ' -f1)"
if [ "$actual" != "$sha256" ]; then
  echo "download-tinyshakespeare: checksum mismatch (got $actual, expected $sha256); not saved" >&2
  exit 1
fi
mv "$tmp" "$out"
trap - EXIT
echo "saved $out ($(wc -c < "$out") bytes, sha256 ok)"
