#!/bin/sh
# Make a busybox:latest image from Debian's busybox-static (no registry needed) and import it.
# Usage: samples/busybox-image.sh [path/to/pycompose]
set -eu
pycompose=${1:-$(dirname "$0")/../.venv/bin/pycompose}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/var/www"
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar -C "$root" --numeric-owner -c . | "$pycompose" image import --change 'CMD ["sh"]' - busybox:latest
