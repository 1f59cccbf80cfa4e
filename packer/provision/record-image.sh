#!/bin/sh
# Record what this bake puts into the image in the sandbox's image store
# (runs on the machine running Packer, from the shell-local provisioner in
# app.pkr.hcl, only when `image_store` is set: moto keeps no disks, so the
# sandbox finds the release of an AMI here, by its SourceHash tag).
#
# In:  IMAGE_STORE, SOURCE_HASH, APP_VERSION, APP_ARTIFACT, WSGI_APP (environment)
# Out: $IMAGE_STORE/$SOURCE_HASH/{app/,release.env,image.env}, replaced whole
#      (bluegreen/sandbox/dataplane/imagestore.py reads it).
set -eu

: "${IMAGE_STORE:?}" "${SOURCE_HASH:?}" "${APP_VERSION:?}" "${APP_ARTIFACT:?}" "${WSGI_APP:?}"
mkdir -p "$IMAGE_STORE"
tmp=$(mktemp -d "$IMAGE_STORE/.$SOURCE_HASH.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/app"
case "$APP_ARTIFACT" in
  *.tar.gz | *.tgz) tar -xzf "$APP_ARTIFACT" -C "$tmp/app" ;;
  *)
    if [ -d "$APP_ARTIFACT" ]; then
      cp -R "$APP_ARTIFACT/." "$tmp/app/"
    else
      cp "$APP_ARTIFACT" "$tmp/app/"
    fi
    ;;
esac
find "$tmp/app" -name __pycache__ -prune -exec rm -rf {} +
printf 'APP_VERSION=%s\n' "$APP_VERSION" >"$tmp/release.env"
printf 'WSGI_APP=%s\nSOURCE_HASH=%s\n' "$WSGI_APP" "$SOURCE_HASH" >"$tmp/image.env"
# A rename is atomic: readers see the old entry or the new one, never half of one.
rm -rf "${IMAGE_STORE:?}/$SOURCE_HASH"
mv "$tmp" "$IMAGE_STORE/$SOURCE_HASH"
trap - EXIT
echo "recorded release $APP_VERSION (source $SOURCE_HASH) in $IMAGE_STORE"
