#!/usr/bin/env bash
# check-dockerfile.sh DOCKERFILE: runs the build stage of one of our Dockerfiles without a Docker engine.
#
# There is no Docker engine on the development and CI machines, so `docker build` cannot run there. This script
# does what the first stage (`FROM ... AS build`) would do with the machine's own .NET SDK: it copies exactly
# what the stage's COPY lines copy (honouring .dockerignore's bin/obj/data/node_modules exclusions) into an
# empty folder that plays /src, then runs the stage's RUN lines there, with /src and /app mapped into that folder.
# A COPY that misses a file the build needs, or a RUN that fails, fails this script; the last line names the
# published entry point. Only the instructions our Dockerfiles use are understood: FROM, WORKDIR, COPY, RUN, ENV.
set -euo pipefail

[ $# = 1 ] || { echo "usage: $0 DOCKERFILE" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -f "$dockerfile" ] || { echo "$0: no such file: $1" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/iot-dockerfile.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/app"
map() { local p=$1; p=${p//\/src/$work/src}; p=${p//\/app/$work/app}; echo "$p"; }

copy_into() { # copy_into SOURCE DEST: Docker's COPY semantics for a file or a folder, minus the ignored folders
  local from="$root/${1%/}" to=$2
  [ -e "$from" ] || { echo "$0: COPY source $1 does not exist" >&2; exit 1; }
  if [ -d "$from" ]; then
    mkdir -p "$to"
    (cd "$from" && find . -type d \( -name bin -o -name obj -o -name data -o -name node_modules \) -prune -o -type f -print0 \
      | xargs -0 -I{} cp --parents {} "$to/")
  else
    case "$to" in */) mkdir -p "$to"; cp "$from" "$to" ;; *) mkdir -p "$(dirname "$to")"; cp "$from" "$to" ;; esac
  fi
}

stage=0 cwd="$work/src" line="" cont=""
while IFS= read -r raw || [ -n "$raw" ]; do
  case "$raw" in *\\) cont+="${raw%\\} "; continue ;; esac
  line="$cont$raw"; cont=""
  set -f; read -r -a words <<<"$line"; set +f
  [ ${#words[@]} -gt 0 ] || continue
  case "${words[0]}" in
    FROM) stage=$((stage + 1)); [ "$stage" -le 1 ] || break ;;
    WORKDIR) cwd=$(map "${words[1]}"); mkdir -p "$cwd" ;;
    ENV) ;;
    COPY)
      args=("${words[@]:1}")
      dest=${args[-1]}; unset 'args[-1]'
      case "$dest" in /*) dest=$(map "$dest") ;; ./|.) dest="$cwd/" ;; *) dest="$cwd/$dest" ;; esac
      if [ ${#args[@]} -gt 1 ]; then case "$dest" in */) ;; *) dest="$dest/" ;; esac; fi
      for a in "${args[@]}"; do copy_into "$a" "$dest"; done ;;
    RUN)
      cmd=$(map "${line#RUN }")
      echo "+ $cmd" >&2
      (cd "$cwd" && bash -euo pipefail -c "$cmd") ;;
    \#*) ;;
    *) echo "$0: instruction ${words[0]} is not understood in the build stage" >&2; exit 1 ;;
  esac
done <"$dockerfile"

entry=$(sed -n 's/^ENTRYPOINT \["dotnet", "\([^"]*\)"\]$/\1/p' "$dockerfile")
[ -n "$entry" ] && [ -f "$work/app/$entry" ] || { echo "$0: the build stage did not produce /app/$entry" >&2; exit 1; }
echo "built /app/$entry from $(basename "$(dirname "$dockerfile")")/$(basename "$dockerfile")"
