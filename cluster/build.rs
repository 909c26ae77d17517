//! Compiles the gRPC service definitions in proto/ (protoc must be installed: Debian's
//! `protobuf-compiler`; .ci/run installs it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/admin.proto");
    println!("cargo:rerun-if-changed=proto/transport.proto");
    tonic_prost_build::configure()
        .compile_protos(&["proto/admin.proto", "proto/transport.proto"], &["proto"])?;
    Ok(())
}
