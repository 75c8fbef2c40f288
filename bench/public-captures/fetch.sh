#!/usr/bin/env bash
# Fetches the public captures of bench/public-captures/manifest.json into a cache outside the repository (they are
# data under their projects' licences, never committed): each source is a Debian source package's upstream archive,
# fetched with apt-get through a private deb-src list made from this machine's own apt sources (the system's apt
# configuration is not changed), checked against the SHA-256 pinned in the manifest, and only its capture folder
# unpacked (.gz captures gunzipped).
#   bash bench/public-captures/fetch.sh [--only SOURCE[,SOURCE]]     cache: $FLEETCAP_PUBLIC_CAPTURES
#                                                                    (default ~/.cache/fleetcap/public-captures)
# Exit 0 when every requested source is in the cache; 3 when a source could not be fetched (the registry is not
# reachable or no longer serves that version): it says which, loudly, and the others are still fetched.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.json"
cache="${FLEETCAP_PUBLIC_CAPTURES:-$HOME/.cache/fleetcap/public-captures}"
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    *) echo "fetch.sh: unknown argument '$1' (use --only SOURCE[,SOURCE])" >&2; exit 64 ;;
  esac
done
for tool in apt-get node sha256sum tar; do
  command -v "$tool" >/dev/null || { echo "fetch.sh: needs $tool" >&2; exit 64; }
done
mkdir -p "$cache/archives" "$cache/apt/lists/partial" "$cache/apt/parts" "$cache/apt/cache"

# A deb-src list from the machine's own deb entries, so that no mirror is named here.
apt_ready=""
prepare_apt() {
  [ -n "$apt_ready" ] && return "$apt_ready"
  : >"$cache/apt/sources.list"
  rm -f "$cache/apt/parts/"*
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -e 's/^Types:.*/Types: deb-src/' "$f" >"$cache/apt/parts/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n -e 's/^deb \(.*\)/deb-src \1/p' "$f" >>"$cache/apt/sources.list"
  done
  APT_OPTS=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o "Dir::Etc::SourceParts=$cache/apt/parts"
    -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache" -o "APT::Sandbox::User=root")
  if timeout 300 apt-get "${APT_OPTS[@]}" -qq update >"$cache/apt/update.log" 2>&1; then
    apt_ready=0
  else
    echo "fetch.sh: SKIPPED: apt-get update of the deb-src lists failed (is Debian's registry reachable?): $cache/apt/update.log" >&2
    apt_ready=1
  fi
  return "$apt_ready"
}

if [ -n "$only" ]; then
  known="$(node -e 'console.log(Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sources).join(","))' "$manifest")"
  for name in ${only//,/ }; do
    [[ ",$known," == *",$name,"* ]] || { echo "fetch.sh: --only $name: no such source in $manifest (sources: $known)" >&2; exit 64; }
  done
fi
missing=0
while IFS=$'\t' read -r name package version archive sha256 members; do
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  dest="$cache/$name"
  if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$sha256" ]; then
    echo "fetch.sh: $name: in the cache ($dest)"
    continue
  fi
  file="$cache/archives/$archive"
  if ! { [ -f "$file" ] && echo "$sha256  $file" | sha256sum -c --status; }; then
    if prepare_apt; then
      echo "fetch.sh: $name: apt-get source --download-only $package=$version"
      # The Debian packaging part may be missing from the mirror: only the upstream archive matters.
      (cd "$cache/archives" && timeout 900 apt-get "${APT_OPTS[@]}" -qq source --download-only "$package=$version") \
        >"$cache/archives/$name.log" 2>&1
    fi
  fi
  if ! [ -f "$file" ]; then
    why="$cache/archives/$name.log"
    [ -f "$why" ] || why="$cache/apt/update.log"
    echo "fetch.sh: SKIPPED: $name: $archive ($package $version) could not be fetched; see $why" >&2
    missing=1
    continue
  fi
  if ! echo "$sha256  $file" | sha256sum -c --status; then
    echo "fetch.sh: SKIPPED: $name: $file has SHA-256 $(sha256sum "$file" | cut -d' ' -f1), the manifest pins $sha256" >&2
    missing=1
    continue
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xf "$file" -C "$dest" --strip-components="$(($(echo "$members" | tr -cd / | wc -c) + 2))" --wildcards "*/$members/*" ||
    { echo "fetch.sh: SKIPPED: $name: unpacking $members from $file failed" >&2; missing=1; continue; }
  find "$dest" -name '*.gz' -exec gunzip -f {} +
  echo "$sha256" >"$dest/.complete"
  echo "fetch.sh: $name: $(find "$dest" -type f ! -name .complete | wc -l) files in $dest"
done < <(node -e '
  const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const [name, s] of Object.entries(m.sources))
    console.log([name, s.package, s.version, s.archive, s.sha256, s.members].join("\t"));
' "$manifest")
[ "$missing" = 0 ] || exit 3
