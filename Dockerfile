# SPDX-License-Identifier: MIT
# Dockerfile - statemgrd in a container.
#
# The build stage runs the same ./scripts/setup.sh as the README's quick
# start; the runtime stage installs only the shared libraries (setup.sh
# --runtime-deps) and the two binaries, and runs the daemon as a non-root
# user on tcp://0.0.0.0:7450.
#
# The daemon needs the authkey its clients use. Mount it as a file at
# /run/secrets/statemgr_authkey (a Docker/Compose secret, or -v), or point
# STATEMGR_AUTHKEY_FILE at another path; without a key file the daemon
# refuses to start rather than invent a key nobody knows:
#   docker build -t statemgr .
#   docker run -d -p 7450:7450 --user "$(id -u):$(id -g)" \
#     -v ~/.statemgr/authkey:/run/secrets/statemgr_authkey:ro statemgr
# (--user makes the daemon the owner of your mode-0600 key file: statemgrd
# refuses a key file that others may read or write, or that another user
# owns. A Compose or Swarm secret must be given that owner and mode 0400
# or 0600 too.)
# Extra arguments go to statemgrd: `docker run ... statemgr --log-level debug`.
# Plain TCP carries no encryption: publish the port on trusted networks only.

FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./scripts/setup.sh

FROM debian:12-slim
COPY scripts/setup.sh /tmp/setup.sh
RUN /tmp/setup.sh --runtime-deps && rm -rf /var/lib/apt/lists/* /tmp/setup.sh
COPY --from=build /src/build/statemgrd /src/build/statemgr /usr/local/bin/
RUN useradd --system --create-home --home-dir /home/statemgr --shell /usr/sbin/nologin statemgr
USER statemgr
WORKDIR /home/statemgr
# Read by statemgrd and by the statemgr CLI (the health check) alike.
ENV STATEMGR_AUTHKEY_FILE=/run/secrets/statemgr_authkey
EXPOSE 7450
HEALTHCHECK --interval=30s --timeout=5s CMD ["statemgr", "--timeout", "3000", "ping"]
ENTRYPOINT ["statemgrd", "--listen", "tcp://0.0.0.0:7450"]
