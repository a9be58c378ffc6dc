#!/bin/sh
# Make any Debian-family base image ready for chainswarm, once, in the Dockerfile's `base` stage:
# Python >= 3.11 with venv (python:*-slim has it; a bare Debian or a CUDA Ubuntu base gets it by
# apt), and the extra CA certificates copied from the build context's CERTS folder trusted, so pip
# can reach its index from behind a TLS-inspecting proxy.
set -eu

certs=/usr/local/share/ca-certificates/chainswarm
find "$certs" -type f ! -name '*.crt' -delete  # the folder's README; update-ca-certificates reads *.crt

has_python() {
    python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

packages=""
has_python || packages="python3 python3-venv"
command -v update-ca-certificates >/dev/null || packages="$packages ca-certificates"
if [ -n "$packages" ]; then
    apt-get update -q
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
    apt-get clean  # Debian's own images do this by themselves; a bare debootstrap base does not
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
fi
has_python || { echo "BASE needs Python >= 3.11 (python:3.11-slim, Debian 12, Ubuntu 24.04)" >&2; exit 1; }
update-ca-certificates
