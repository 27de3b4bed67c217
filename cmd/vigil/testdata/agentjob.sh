#!/bin/bash
# An agent-like job for BenchmarkAgentJob: what a coding agent does to a
# repository in a session, step by step. Each step edits source files
# (a new file, an in-place sed, an append), searches the tree with grep,
# reads an API over local HTTP with curl, runs the tests' stand-in (wc,
# sort), and commits with git.
#
#	agentjob.sh DIR URL STEPS
set -euo pipefail
dir=$1 url=$2 steps=$3
rm -rf "$dir/repo"
mkdir -p "$dir/repo"
cd "$dir/repo"
git init -q
git config user.email bench@vigil.invalid
git config user.name bench
mkdir -p src docs
for i in $(seq 1 "$steps"); do
	printf 'package src\n\n// F%d returns a step number.\nfunc F%d() int { return %d }\n' "$i" "$i" "$i" >"src/f$i.go"
	sed -i "s/return $i\$/return $((i * 2))/" "src/f$i.go"
	echo "- step $i" >>docs/CHANGES.md
	grep -rn "func F" src | sort | wc -l >/dev/null
	curl -fsS "$url/api/step/$i" >"docs/step$i.json"
	cat src/*.go | wc -c >/dev/null
	git add -A
	git commit -q -m "step $i"
done
git log --oneline | wc -l
