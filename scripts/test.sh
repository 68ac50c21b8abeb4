#!/usr/bin/env bash
# scripts/test.sh: THE test command. Installs what the tests need on a fresh Debian 12 machine (idempotent),
# builds and runs every test of Iot.sln in Release, and ends with one plain line: `N passed, N failed`
# (`, N skipped` when any were skipped). Exits non-zero when the build or any test failed.
#
#   scripts/test.sh                                   everything
#   scripts/test.sh --filter Category=Integration     extra arguments go to `dotnet test`
#   scripts/test.sh --filter 'Category!=Slow'
#
# What it installs (as root, or through sudo):
#   - Debian packages, with apt-get: mosquitto-clients (mosquitto_pub, mosquitto_sub), mosquitto, influxdb (influxd,
#     which the InfluxDB sink tests start on a free port), nats-server (a NATS server with JetStream, which cluster
#     tests start on a free port), docker-compose (validates docker-compose.yml; brings python3 and PyYAML, which
#     read it), chromium (the dashboard's browser test drives /usr/bin/chromium headless), openssl (makes the TLS
#     tests' certificates), curl (the README's quick start, run as written) and coreutils, procps (stdbuf, kill);
#     nodejs and npm if node is missing. Nothing outside this repository is needed.
#   - MQTT.js, playwright-core (no browser download: it drives the Debian chromium) and Azurite (the Azure Storage
#     emulator the claim-check tests start, always with --disableTelemetry): `npm ci` in tests/tools/node
#     (skipped when node_modules is already up to date).
# Settings: TEST_RESULTS_DIR (where the TRX files go; default a new temp dir), SKIP_INSTALL=1 (skip both installs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { echo "test.sh: $*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# ---------------------------------------------------------------- install
apt_install() {
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  say "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  # shellcheck disable=SC2086
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >&2
}

# The servers the tests start themselves (mosquitto, influxd, nats-server) and their clients; docker-compose
# validates docker-compose.yml (no Docker engine is needed for that; python3 with PyYAML reads it); chromium runs the
# dashboard's browser tests; openssl makes certificates; curl runs the README's commands; stdbuf and kill drive
# child processes.
SYSTEM_PACKAGES="mosquitto mosquitto-clients influxdb nats-server docker-compose python3 python3-yaml chromium openssl curl coreutils procps"

install_system_packages() {
  # shellcheck disable=SC2086
  apt_install $SYSTEM_PACKAGES
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  local tool
  for tool in mosquitto_pub mosquitto_sub influxd node npm stdbuf docker-compose python3 openssl curl kill; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is still missing after the install step"
  done
  # Debian installs nats-server in /usr/sbin, which is not on an ordinary user's PATH.
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] \
    || die "'nats-server' is still missing after the install step"
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after the install step"
}

install_node_tools() {
  local dir="$ROOT/tests/tools/node"
  if [ -f "$dir/node_modules/.package-lock.json" ] && [ -f "$dir/node_modules/mqtt/package.json" ] \
    && [ -f "$dir/node_modules/playwright-core/package.json" ] && [ -f "$dir/node_modules/azurite/package.json" ] \
    && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] \
    && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package.json" ]; then
    say "MQTT.js, playwright-core and Azurite already installed in tests/tools/node"
    return 0
  fi
  say "npm ci in tests/tools/node"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  install_system_packages
  install_node_tools
fi
command -v dotnet >/dev/null 2>&1 || die "the .NET SDK (dotnet) is not on PATH"

# ---------------------------------------------------------------- test
RESULTS=${TEST_RESULTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/iot-test-results.XXXXXX")}
mkdir -p "$RESULTS"
find "$RESULTS" -maxdepth 1 -name '*.trx' -delete

say "dotnet test Iot.sln -c Release $* (TRX files in $RESULTS)"
set +e
dotnet test Iot.sln -c Release --results-directory "$RESULTS" --logger trx "$@"
status=$?
set -e

# ---------------------------------------------------------------- count
# Each test project writes one TRX file whose <Counters .../> element holds its totals.
counter() { sed -n "s/.*<Counters [^>]*\b$1=\"\([0-9]*\)\".*/\1/p" "$2" | head -n 1; }
passed=0 failed=0 skipped=0 files=0
for trx in "$RESULTS"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  passed=$((passed + $(counter passed "$trx")))
  failed=$((failed + $(counter failed "$trx") + $(counter error "$trx") + $(counter timeout "$trx") + $(counter aborted "$trx")))
  # xunit's skipped tests count in total but neither in executed nor in notExecuted.
  skipped=$((skipped + $(counter total "$trx") - $(counter executed "$trx")))
done

if [ "$files" = 0 ]; then
  say "no test results were written: the build failed or no test project ran (dotnet test exited with $status)"
  [ "$status" != 0 ] || status=1
elif [ $((passed + failed + skipped)) = 0 ]; then
  say "no test ran (a --filter that matches nothing?)"
  [ "$status" != 0 ] || status=1
elif [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  say "dotnet test exited with $status although no test failed (a build error or a crashed test host?)"
fi

# The failed tests' names and error messages last, right above the count: a CI log that keeps only its tail still
# says what failed (the test output before it can be long).
if [ "$failed" != 0 ] && command -v python3 >/dev/null 2>&1; then
  python3 - "$RESULTS" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for trx in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for result in ET.parse(trx).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") in ("Passed", "NotExecuted"):
            continue
        message = result.findtext(".//t:ErrorInfo/t:Message", "", ns).strip()
        stack = result.findtext(".//t:ErrorInfo/t:StackTrace", "", ns).strip().splitlines()
        print(f"FAILED {result.get('testName')} ({result.get('duration')})")
        print("  " + "\n  ".join((message[:2000].splitlines() or ["(no message)"]) + stack[:8]))
PY
fi

line="$passed passed, $failed failed"
[ "$skipped" = 0 ] || line="$line, $skipped skipped"
echo "$line"
if [ "$failed" != 0 ]; then exit 1; fi
exit "$status"
