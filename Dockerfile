# Build: the release build of the README (CI builds and tests the debug profile; this
# image is not built in CI).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kspan

# Run: a small distroless image, non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kspan /usr/local/bin/kspan
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kspan"]
CMD ["run"]
