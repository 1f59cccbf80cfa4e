#!/usr/bin/env bash
# Install one release of the app into the image being baked (runs as root on
# the bake instance, from the shell provisioner in app.pkr.hcl).
#
# In:  /tmp/bluegreen-upload/<artifact>   a directory, a .tar.gz/.tgz or a .whl
#      /tmp/bluegreen-provision/{bluegreen-app.service,resolve-secrets.py}
#      VERSION, SOURCE_HASH, WSGI_APP, APP_PORT (environment)
# Out: /opt/bluegreen/releases/<VERSION>/{app,venv}, /opt/bluegreen/current ->
#      that release, /opt/bluegreen/release.env (APP_VERSION: what the app
#      reports), /opt/bluegreen/bin/resolve-secrets.py, bluegreen-app.service
#      installed but NOT enabled: the launch template's user data starts it
#      once the instance's settings are written (packer/README.md).
set -euo pipefail

: "${VERSION:?VERSION is required}" "${SOURCE_HASH:?SOURCE_HASH is required}"
: "${WSGI_APP:?WSGI_APP is required}" "${APP_PORT:?APP_PORT is required}"
UPLOAD=/tmp/bluegreen-upload
PROVISION=/tmp/bluegreen-provision
ROOT=/opt/bluegreen
RELEASE="$ROOT/releases/$VERSION"
APP_USER=bluegreen-app

fail() {
  echo "install-release: $*" >&2
  exit 1
}

shopt -s nullglob dotglob
uploaded=("$UPLOAD"/*)
[ "${#uploaded[@]}" -eq 1 ] || fail "expected exactly one artifact in $UPLOAD, found ${#uploaded[@]}"
artifact="${uploaded[0]}"

command -v python3 >/dev/null || fail "python3 is not installed on the base image"

echo "installing release $VERSION (source $SOURCE_HASH) from $(basename "$artifact")"
rm -rf "$RELEASE"
mkdir -p "$RELEASE/app"
case "$artifact" in
  *.tar.gz | *.tgz) tar -xzf "$artifact" -C "$RELEASE/app" ;;
  *.whl) ;; # installed into the virtualenv below
  *)
    if [ -d "$artifact" ]; then
      cp -a "$artifact/." "$RELEASE/app/"
    else
      cp -a "$artifact" "$RELEASE/app/"
    fi
    ;;
esac
find "$RELEASE/app" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +

python3 -m venv "$RELEASE/venv"
pip=("$RELEASE/venv/bin/pip" install --quiet --disable-pip-version-check)
if [[ "$artifact" == *.whl ]]; then
  "${pip[@]}" "$artifact"
fi
if [ -f "$RELEASE/app/requirements.txt" ]; then
  "${pip[@]}" -r "$RELEASE/app/requirements.txt"
fi
# botocore: resolve-secrets.py fetches the instance's secrets with it.
"${pip[@]}" gunicorn botocore

id -u "$APP_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin "$APP_USER"
chown -R root:root "$RELEASE"
chmod -R go-w "$RELEASE"
ln -sfn "$RELEASE" "$ROOT/current"

install -d -m 0755 /etc/bluegreen "$ROOT/bin"
install -m 0755 "$PROVISION/resolve-secrets.py" "$ROOT/bin/resolve-secrets.py"
cat >"$ROOT/release.env" <<ENV
APP_VERSION=$VERSION
BLUEGREEN_SOURCE_HASH=$SOURCE_HASH
APP_PORT=$APP_PORT
WSGI_APP=$WSGI_APP
WORKERS=2
ENV

install -m 0644 "$PROVISION/bluegreen-app.service" /etc/systemd/system/bluegreen-app.service
systemctl daemon-reload
# Never enabled here: started by user data after its settings are written.
systemctl disable bluegreen-app.service >/dev/null 2>&1 || true
rm -rf "$UPLOAD" "$PROVISION"
echo "release $VERSION installed in $RELEASE"
