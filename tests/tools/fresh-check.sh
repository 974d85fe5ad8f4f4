#!/usr/bin/env bash
# fresh-check.sh [REPO]
# Play a fresh Debian 12 machine, then take the README's two commands as a new
# user would: purge every package that tests/tools/deps.sh installs (its one
# table), clear apt's download cache, clone REPO's committed HEAD (default:
# this checkout) into a scratch folder, and run `make test` there. Reports
# what was purged, what `make test` installed, its time and its last line.
#
# Not part of `make test`: it uninstalls packages from this machine. Needs
# root (or non-interactive sudo). Exits with `make test`'s status.
set -euo pipefail
repo=$(git -C "${1:-.}" rev-parse --show-toplevel)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive

# A stock Debian 12 machine of this kind comes with these, and this check
# needs them itself (git to clone, the compiler, apt's own helpers).
keep=" make gcc binutils python3 bsdutils "

mapfile -t table < <(bash "$repo/tests/tools/deps.sh" --list all-packages)
purge=()
for p in "${table[@]}"; do
    [[ $keep == *" $p "* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' && purge+=("$p")
done
# What the table's packages pulled in as recommendations and that needs one
# of them goes too: otherwise apt refuses (grub-efi-amd64-signed is a
# protected package) or satisfies it again with another package (the QEMU
# add-ons would bring qemu-system-arm in). Only if apt marked it automatic.
auto=" $(apt-mark showauto | tr '\n' ' ') "
for p in grub-efi-amd64-signed shim-signed qemu-system-gui qemu-block-extra; do
    [[ $auto == *" $p "* ]] && purge+=("$p")
done
echo "fresh-check: purging ${#purge[@]} packages: ${purge[*]}"
if [ ${#purge[@]} -gt 0 ]; then
    # --allow-remove-essential only lets the protected signed boot loader go,
    # which the table's GRUB packages installed; the stock machine has none.
    $SUDO apt-get purge -y -qq --allow-remove-essential "${purge[@]}" > /dev/null
fi
# What they pulled in goes too, and nothing is left in the download cache.
$SUDO apt-get autoremove --purge -y -qq > /dev/null
$SUDO apt-get clean

missing=$(bash "$repo/tests/tools/deps.sh" --missing test | tr '\n' ' ')
echo "fresh-check: now missing for 'make test': ${missing:-nothing}"

work=$(mktemp -d /tmp/pagoda-fresh.XXXXXX)
git clone -q "$repo" "$work/pagoda"
echo "fresh-check: cloned $(git -C "$work/pagoda" log -1 --format='%h %s') into $work/pagoda"
cd "$work/pagoda"
t0=$(date +%s)
status=0
make test > "$work/make-test.log" 2>&1 || status=$?
t1=$(date +%s)

echo "fresh-check: make test installed: $(grep -m1 '^deps: installing' "$work/make-test.log" || echo nothing)"
echo "fresh-check: failed cases:"
grep '^FAIL ' "$work/make-test.log" | sed 's/^/    /' || echo "    none"
echo "fresh-check: make test took $((t1 - t0)) s, exit status $status (log: $work/make-test.log); it ended:"
grep -E '^(time: |jobs: )' "$work/make-test.log" | sed 's/^/    /' || true
tail -1 "$work/make-test.log" | sed 's/^/    /'
exit $status
