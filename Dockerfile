# A static fieldflow binary on a distroless base, run as a non-root user,
# with the SQLite database and its key file in the /data volume.
#
#   docker build -t fieldflow --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -p 8080:8080 -v fieldflow-data:/data fieldflow
#
# For PostgreSQL pass -e FIELDFLOW_DB=postgres://… -e FIELDFLOW_MASTER_KEY=….
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
# Set by BuildKit to the platform being built.
ARG TARGETOS
ARG TARGETARCH
# The release script builds it, so the image holds exactly a release binary:
# static (modernc.org/sqlite is pure Go, no cgo), stripped and stamped.
# TestCommandLine builds with the same script and runs the result as this
# image does (user 65532, the database in a data directory, FIELDFLOW_ADDR).
RUN os="${TARGETOS:-linux}" arch="${TARGETARCH:-amd64}" && \
	VERSION="$VERSION" COMMIT="$COMMIT" TARGETS="$os/$arch" OUT=/out bash deploy/build-release && \
	mv "/out/fieldflow_${VERSION}_${os}_${arch}" /out/fieldflow

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fieldflow /usr/local/bin/fieldflow
# The web app is embedded in the binary; nothing else is needed at run time.
ENV FIELDFLOW_ADDR=0.0.0.0:8080 \
	FIELDFLOW_DB=/data/fieldflow.db
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/fieldflow"]
CMD ["serve"]
