#!/usr/bin/env bash
# Run every fuzz target of the project for a fixed time each, growing the corpus kept in the
# repository (crates/*/fuzz/corpus/<target>/), then minimise it. Crashes are left in
# crates/*/fuzz/artifacts/<target>/ and make the script exit non-zero.
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh # longer (a nightly job)
#   scripts/fuzz.sh sinks ingest     # one crate's targets, or one target
#
# Needs the nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz (installed here from
# crates.io when missing). Seeds: the crates that have a `*_fuzz_seeds` example write their
# seeds into the corpus first. Commit the corpus after a run (`git add crates/*/fuzz/corpus`).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
ONLY_CRATE="${1:-}"
ONLY_TARGET="${2:-}"
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
failed=()
ran=0
for dir in crates/*/fuzz; do
    crate="$(basename "$(dirname "$dir")")"
    [ -n "$ONLY_CRATE" ] && [ "$crate" != "$ONLY_CRATE" ] && continue
    # Seeds from the crate's own example, when it has one.
    for ex in crates/"$crate"/examples/*_fuzz_seeds.rs; do
        [ -e "$ex" ] || continue
        cargo run -q -p "harrier-$crate" --example "$(basename "$ex" .rs)" -- "$dir/corpus" || true
    done
    for t in $(cd "$dir" && cargo +nightly fuzz list); do
        [ -n "$ONLY_TARGET" ] && [ "$t" != "$ONLY_TARGET" ] && continue
        mkdir -p "$dir/corpus/$t"
        echo "== $crate/$t for ${SECONDS_EACH}s"
        if (cd "$dir" && cargo +nightly fuzz run "$t" "corpus/$t" -- \
                -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1); then
            # Keep the corpus small: only inputs that add coverage.
            (cd "$dir" && cargo +nightly fuzz cmin "$t" "corpus/$t" >/dev/null 2>&1) || true
        else
            failed+=("$crate/$t")
        fi
        ran=$((ran + 1))
    done
done
echo "fuzz.sh: $ran target(s) run for ${SECONDS_EACH}s each; $(( ran - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs under crates/*/fuzz/artifacts/)" >&2
    exit 1
fi
