#!/bin/bash
# make fuzz — libFuzzer over the case loader and the frames writer/reader round trip
# (issue 9). Builds the library and tests/fuzz/fuzz_*.c with clang
# -fsanitize=fuzzer,address,undefined in build-fuzz/, seeds each corpus (valid cases
# from `frameprec gen`, the bad-input catalogue of tests/test_badinput.c, and the
# regression inputs in tests/fuzz/regress/<target>/), runs each target for a bounded
# time and prints executions and coverage (libFuzzer's cov: and ft:).
#   FUZZ_SECONDS=90 (per target)  FUZZ_TARGETS="case_loader frames_roundtrip"
# A crash leaves build-fuzz/artifacts/<target>-crash-*; copy it into
# tests/fuzz/regress/<target>/ once fixed: tests/test_fuzz_regress.c replays those in
# `make test` and `make asan`. Exit status 1 when a target crashed.
# libhdf5 (not instrumented) is fuzzed through us: its own leaks on corrupt files are
# suppressed (tests/fuzz/lsan.supp), and its huge mallocs from corrupt size fields
# return NULL (allocator_may_return_null=1, no libFuzzer malloc limit) so HDF5 reports
# an error; frameprec's own allocations are bounded by the 64 MiB limit the loader
# target sets, checked before allocating.
set -u
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-90}
TARGETS=${FUZZ_TARGETS:-"case_loader frames_roundtrip"}
B=${FUZZ_BUILD:-build-fuzz}
SEEDB=${FUZZ_SEED_BUILD:-build-fuzz-seed}
PKGS="mpfr gmp hdf5-serial cmocka"

if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "fuzz: installing clang libclang-rt-dev"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang \
            "$(apt-cache search --names-only '^libclang-rt-[0-9]+-dev$' | sort -V | tail -1 | cut -d' ' -f1)" >/dev/null
    else
        echo "fuzz: needs clang and libFuzzer: sudo apt-get install -y clang libclang-rt-14-dev"; exit 1
    fi
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
echo "fuzz: building the library with clang ($SAN) in $B/"
make -s ${FUZZ_MAKEARGS:+"$FUZZ_MAKEARGS"} BUILD="$B" CC=clang WERROR= OPT="-O1 -g -fno-omit-frame-pointer" \
    EXTRA="-fsanitize=fuzzer-no-link $SAN" "$B/libframeprec.a" >"$B.build.log" 2>&1 ||
    { cat "$B.build.log"; echo "fuzz: library build failed"; exit 1; }
CFLAGS="-std=c11 -O1 -g -fno-omit-frame-pointer -ffp-contract=off -fopenmp -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags $PKGS)"
for t in $TARGETS; do
    clang $CFLAGS -fsanitize=fuzzer $SAN "tests/fuzz/fuzz_$t.c" "$B/libframeprec.a" \
        $(pkg-config --libs $PKGS) -fopenmp -lm -o "$B/fuzz_$t" || { echo "fuzz: build of $t failed"; exit 1; }
done

echo "fuzz: seed corpora"
make -s ${FUZZ_MAKEARGS:+"$FUZZ_MAKEARGS"} BUILD="$SEEDB" "$SEEDB/frameprec" "$SEEDB/tests/test_badinput" >/dev/null 2>&1 ||
    echo "fuzz: warning: seed build failed; seeding with what $SEEDB/ and $B/corpus/ already hold"
C="$B/corpus/case_loader"
mkdir -p "$C" "$B/corpus/frames_roundtrip" "$B/artifacts" tests/fuzz/regress/case_loader tests/fuzz/regress/frames_roundtrip
"$SEEDB/frameprec" gen ligands -o "$C/seed-ligands.h5" >/dev/null 2>&1
"$SEEDB/frameprec" gen protein --atoms 60 --samples 2 -o "$C/seed-protein.h5" >/dev/null 2>&1
"$SEEDB/frameprec" gen nucleic --rna 2 --dna 2 -o "$C/seed-nucleic.h5" >/dev/null 2>&1
"$SEEDB/frameprec" gen protein --atoms 40 --atomize-all -o "$C/seed-atomized.h5" >/dev/null 2>&1
"$SEEDB/tests/test_badinput" --write "$B/bad" >/dev/null 2>&1
for f in "$B"/bad/*.h5; do cp "$f" "$C/seed-bad-$(basename "$f")"; done
# a few frames-shaped seeds: header bytes (S, T, truth) and payload
printf '\001\010\001' >"$B/corpus/frames_roundtrip/seed-truth"
printf '\000\077\000' >"$B/corpus/frames_roundtrip/seed-wide"
head -c 4096 /dev/urandom >"$B/corpus/frames_roundtrip/seed-random"

# Where a crash happened: the first stack frame that is not the sanitizer, libc or
# libFuzzer. "libhdf5" = a bug of the HDF5 library on a corrupt file (reported, not
# ours to fix); anything else is frameprec's and fails the run.
classify() {
    "$B/fuzz_$1" -rss_limit_mb=16384 -malloc_limit_mb=1024 "$2" 2>&1 | grep -E '^ *#[0-9]+ ' |
        grep -vE 'interceptor|__asan|__sanitizer|__ubsan|libc\.so|__libc|fortify|stack_chk|raise|abort|pthread_kill|fuzzer::|LLVMFuzzerTestOneInput|in malloc|in calloc|in realloc|in free' |
        head -1 | sed -E 's/.* in ([^ ]+) .*\((.*)\+0x.*/\1 [\2]/; s/.* in ([^ ]+) ([^ ]+).*/\1 [\2]/; s/^ *#[0-9]+ 0x[0-9a-f]+ +\(([^+]*)\+(0x[0-9a-f]+)\).*/\2 [\1]/'
}

status=0
summary=""
for t in $TARGETS; do
    maxlen=4096
    [ "$t" = case_loader ] && maxlen=$(ls -S "$C" | head -1 | xargs -I{} stat -c %s "$C/{}")
    echo "fuzz: $t for ${SECS}s (max_len $maxlen)"
    log="$B/fuzz_$t.log"
    rm -f "$B"/artifacts/"$t"-*
    # -fork=1 -ignore_crashes=1: a crash inside libhdf5 does not end the run; every
    # crash input is kept in $B/artifacts/ and classified below.
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$B/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$SECS" -max_len="$maxlen" -rss_limit_mb=2048 -malloc_limit_mb=1048576 \
        -timeout=30 -artifact_prefix="$B/artifacts/$t-" \
        "$B/corpus/$t" "tests/fuzz/regress/$t" >"$log" 2>&1
    last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1)
    execs=$(echo "$last" | sed -E 's/^#([0-9]+):.*/\1/')
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
    corp=$(echo "$last" | grep -o 'corp: [0-9]*' | awk '{print $2}')
    ours=0 theirs=0 where=""
    for a in "$B"/artifacts/"$t"-*; do
        [ -e "$a" ] || continue
        w=$(ASAN_OPTIONS=allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp classify "$t" "$a")
        case "$w" in *libhdf5*) theirs=$((theirs + 1)) ;; *) ours=$((ours + 1)); echo "  frameprec crash: $a: ${w:-?}" ;; esac
        where="$where${w:-?}"$'\n'
    done
    line="fuzz: $t: ${execs:-?} executions in ${SECS}s ($(( ${execs:-0} / SECS ))/s), cov: ${cov:-?} ft: ${ft:-?}, corpus ${corp:-?} inputs; crash inputs: $ours in frameprec, $theirs inside libhdf5"
    [ $ours -eq 0 ] || status=1
    echo "$line"
    [ -z "$where" ] || printf '%s' "$where" | sort | uniq -c | sed 's/^/    /'
    summary="$summary$line"$'\n'
done
# inputs a crashed child never got to unlink
rm -f /dev/shm/fpr-fuzz-*.h5 /tmp/fpr-fuzz-*.h5
echo "----"
printf '%s' "$summary"
exit $status
