#!/usr/bin/env bash
# Installs tsopt into a temporary prefix, builds plugins/example as an out-of-tree project
# with find_package(tsopt), and checks that the installed tsopt, and the installed Python
# package, load and run its pass.
set -euo pipefail
build_dir=$1 source_dir=$2 fixture=$3 python=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
mkdir "$work/plugin"
cp "$source_dir/plugins/example/remove_dropout.cpp" "$work/plugin/"
cat >"$work/plugin/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(out_of_tree_plugin CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(tsopt REQUIRED)
tsopt_add_plugin(my_plugin remove_dropout.cpp)
CMAKE
cmake -S "$work/plugin" -B "$work/plugin/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/plugin/build" >/dev/null

tsopt="$work/prefix/bin/tsopt"
# Outputs are captured before grep: grep -q closing the pipe early would fail under pipefail.
listing=$("$tsopt" passes --plugin "$work/plugin/build/my_plugin.so")
grep -q '^example-remove-dropout ' <<<"$listing"
stats=$("$tsopt" run "$fixture" -p inline,example-remove-dropout,dce -o "$work/out.pt" \
  --plugin "$work/plugin/build/my_plugin.so" --stats 2>&1)
grep -q 'example-remove-dropout: removed=1' <<<"$stats"
ir=$("$tsopt" show "$work/out.pt")
if grep -q 'aten::dropout' <<<"$ir"; then
  echo "dropout still present" >&2
  exit 1
fi

PYTHONPATH="$work/prefix/lib/python3/dist-packages" "$python" - "$work" "$fixture" <<'PYTHON'
import sys
import tsopt
work, fixture = sys.argv[1:]
assert tsopt.__file__.startswith(work + "/prefix/"), tsopt.__file__
assert tsopt.load_plugin(work + "/plugin/build/my_plugin.so") == ["example-remove-dropout"]
report = tsopt.run(fixture, "inline,example-remove-dropout,dce")
assert report.passes[1]["stats"] == {"removed": 1}, report.passes
assert "aten::dropout" not in tsopt.show(report.module)
PYTHON
echo "out-of-tree plugin built against the installed package and ran, from the CLI and Python"
