"""Extracts from a tensorflow(-cpu) wheel only what tfjs-node's binding needs to build and run.

Usage: extract_wheel.py WHEEL BINDING_DIR OUT

Writes OUT/lib/ (libtensorflow_cc.so.2 and libtensorflow_framework.so.2) and OUT/include/: the
closure of headers reachable by quoted #include from the binding's sources and TensorFlow's C API.
Prints how many headers it wrote. Called by src/native/addon-build.ts.
"""
import re, sys, zipfile, os
wheel, binding_dir, out = sys.argv[1:4]
root = 'tensorflow/include/'
z = zipfile.ZipFile(wheel)
names = set(z.namelist())
libs = [n for n in names if re.fullmatch(r'tensorflow/libtensorflow(_cc|_framework)?\.so\.2', n)]
if 'tensorflow/libtensorflow_framework.so.2' not in libs or len(libs) < 2:
    sys.exit('the wheel has no libtensorflow_cc.so.2 and libtensorflow_framework.so.2')
include = re.compile(r'#\s*include\s+"([^"]+)"')
todo = [n[len(root):] for n in names if n.startswith(root + 'tensorflow/c/') and n.endswith('.h')]
for f in os.listdir(binding_dir):
    todo += include.findall(open(os.path.join(binding_dir, f), errors='replace').read())
seen = set()
while todo:
    h = todo.pop()
    if h in seen or root + h not in names:
        continue
    seen.add(h)
    todo += include.findall(z.read(root + h).decode('utf-8', 'replace'))
for n in libs:
    target = os.path.join(out, 'lib', os.path.basename(n))
    with z.open(n) as src, open(target, 'wb') as dst:
        while chunk := src.read(1 << 24):
            dst.write(chunk)
for h in seen:
    target = os.path.join(out, 'include', h)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'wb') as dst:
        dst.write(z.read(root + h))
print(len(seen))
