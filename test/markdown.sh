#!/usr/bin/env bash
# The README, bench/README.md and test/data/vapi-examples/README.md as
# GitHub shows them: rendered with cmark-gfm (GitHub's renderer, installed
# by scripts/test.sh), every table renders as a table with as many cells
# per row as its header, every "#anchor" link reaches a heading, every
# relative link a file, and no two headings share an anchor
# (test/markdown_check.py).  First the checker is shown each kind of
# breakage, so that it cannot pass by seeing nothing.
set -euo pipefail

: "${REPO:?}" "${WORK:?}"
fail() { echo "markdown: $*" >&2; exit 1; }
check=("${PYTHON:-/usr/bin/python3}" "$REPO/test/markdown_check.py" "$(command -v cmark-gfm || echo cmark-gfm)")
command -v cmark-gfm >/dev/null || fail "cmark-gfm is not installed"

# Each broken document must be refused, with the problem named.
dir=$WORK/markdown
mkdir -p "$dir"
expect_refused() {
	local name=$1 pattern=$2
	if "${check[@]}" "$dir/$name.md" >"$dir/$name.out" 2>&1; then
		cat "$dir/$name.out"
		fail "the checker accepted $name.md"
	fi
	grep -q -- "$pattern" "$dir/$name.out" || { cat "$dir/$name.out"; fail "$name.md: no '$pattern'"; }
	echo "refused $name.md: $(grep -- "$pattern" "$dir/$name.out" | head -n 1)"
}
printf '# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nText between.\n\n| 3 | 4 |\n' >"$dir/orphan_rows.md"
expect_refused orphan_rows 'a table row did not render'
printf '# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n' >"$dir/blank_in_table.md"
expect_refused blank_in_table 'a table row did not render'
printf '# T\n\n| a | b |\n|---|---|\n| `x|y` | 2 |\n' >"$dir/pipe_in_code.md"
expect_refused pipe_in_code 'table row has 3 cells, its header 2'
printf '# T\n\n## Views (schema `vapi`)\n\nSee [Views](#views).\n' >"$dir/anchor.md"
expect_refused anchor 'link to #views: no such heading'
printf '# T\n\nSee [the bench](bench/NOTES.md).\n' >"$dir/file.md"
expect_refused file 'link to bench/NOTES.md: no such file'
printf '# T\n\n## Usage\n\ntext\n\n## Usage\n' >"$dir/duplicate.md"
expect_refused duplicate 'duplicates the anchor #usage'

# The real documents: no problem, and the tables are there.
cd "$REPO"
"${check[@]}" README.md bench/README.md test/data/vapi-examples/README.md | tee "$dir/real.out" || fail "see the problems above"
tables=$(sed -n 's/^README.md: .* \([0-9]*\) tables.*/\1/p' "$dir/real.out")
[ "${tables:-0}" -ge 10 ] || fail "README.md renders only ${tables:-0} tables"
echo "markdown ok"
