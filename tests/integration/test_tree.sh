#!/usr/bin/env bash
# test_tree.sh — the repository keeps its own promises: every file that code
# and docs name exists in it, links between docs resolve, and engine/ keeps
# its layering (docs/architecture.md).
source "$(dirname "$0")/lib.sh"

# The files of the repository that prose refers to: docs, README, comments.
doc_files() { (cd "$ROOT" && git ls-files -- '*.md' 'engine/*' '.clang-format' 'Makefile' 2>/dev/null); }

t_every_markdown_file_named_in_docs_and_code_exists() {
  local f name missing=""
  while read -r f; do
    for name in $(grep -oE '\b[A-Za-z][A-Za-z0-9_/.-]*\.md\b' "$ROOT/$f" | sort -u); do
      [ -e "$ROOT/$name" ] || [ -e "$ROOT/docs/$name" ] || [ -e "$(dirname "$ROOT/$f")/$name" ] ||
        [ -n "$(cd "$ROOT" && git ls-files -- "*/$name")" ] || missing="$missing $f:$name"
    done
  done < <(doc_files)
  expect_eq "$missing" "" "files named but not in the repository"
}

t_nothing_points_at_the_team_notes_outside_the_repository() {
  local hits
  hits=$(cd "$ROOT" && git grep -nE 'DESIGN(\.md| §)|NOTES-cdp|STYLE\.md' -- . ':!tests/integration/test_tree.sh' |
    tr '\n' ' ')
  expect_eq "$hits" "" "references to notes that are not in the repository (see docs/)"
}

t_every_relative_link_in_markdown_resolves() {
  local f link target missing=""
  while read -r f; do
    case "$f" in *.md) ;; *) continue ;; esac
    # Links in prose only: code blocks and inline code hold Lua such as t[1](page).
    for link in $(sed -e '/^```/,/^```/d' -e 's/`[^`]*`//g' "$ROOT/$f" |
      grep -oE '\]\([^)#: ]+' | sed 's/^](//'); do
      target="$(dirname "$ROOT/$f")/$link"
      [ -e "$target" ] || missing="$missing $f:$link"
    done
  done < <(doc_files)
  expect_eq "$missing" "" "links that point nowhere"
}

t_engine_sources_live_in_the_folders_architecture_md_lists() {
  local loose folders listed d
  loose=$(cd "$ROOT" && find engine -maxdepth 1 -type f | sort | tr '\n' ' ')
  expect_eq "$loose" "" "files directly in engine/"
  folders=$(cd "$ROOT/engine" && ls -d */ | tr -d / | sort | tr '\n' ' ')
  listed=$(grep -oE '^\| `[a-z]+/`' "$ROOT/docs/architecture.md" | tr -dc 'a-z\n' | sort | tr '\n' ' ')
  expect_eq "$folders" "$listed" "engine/ folders against docs/architecture.md"
  for d in $folders; do
    grep -q "$d" "$ROOT/Makefile" || fail "engine/$d is not built (ENGINE_DIRS)"
  done
}

t_base_includes_no_other_folder() {
  local hits
  hits=$(grep -lE '#include "[a-z_]+/' "$ROOT"/engine/base/*.[ch] 2>/dev/null | tr '\n' ' ')
  expect_eq "$hits" "" "base/ files that include another folder"
}

run_tests
