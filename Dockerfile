# Build: the same command as the first build step of the test suite (scripts/test),
# so CI builds and tests exactly what goes into the image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

# Run: a small distroless image, non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kspan /usr/local/bin/kspan
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kspan"]
CMD ["run"]
