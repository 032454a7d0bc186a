# poolcsi: one image for the controller and the node plugin: the driver on Node.js 20 and the
# storage tools its backends and node transports run. docs/install.md says how to build it.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY proto proto
COPY src src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev && chmod +x dist/src/cli/main.cjs

# Same Debian release as the build stage: its node binary runs here unchanged.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      lvm2 thin-provisioning-tools \
      e2fsprogs xfsprogs btrfs-progs quota \
      util-linux mount kmod \
      open-iscsi multipath-tools \
      nfs-common \
      ceph-common \
      openssh-client \
 && rm -rf /var/lib/apt/lists/*

# LVM without udev or dmeventd, locking with the host (image/lvm.conf says why).
COPY image/lvm.conf /etc/lvm/lvm.conf
# iscsiadm, multipath, multipathd, zfs and zpool run the host's tools (image/host-exec says why).
COPY image/host-exec /usr/local/lib/poolcsi/host-exec
RUN for tool in iscsiadm multipath multipathd zfs zpool; do ln -s /usr/local/lib/poolcsi/host-exec /usr/local/sbin/$tool; done

COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /opt/poolcsi
COPY --from=build /src/package.json ./
COPY --from=build /src/proto proto
COPY helpers helpers
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist/src dist/src
RUN ln -s /opt/poolcsi/dist/src/cli/main.cjs /usr/local/bin/poolcsi && poolcsi version

# The controller runs as this user; the node plugin's pod asks for root (mounts, devices).
USER 65532:65532
ENV HOME=/tmp
ENTRYPOINT ["poolcsi"]
CMD ["--help"]
