//! Compiles the contract with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = "proto/lunxun/v1/lunxun.proto";
    println!("cargo:rerun-if-changed={file}");
    let descriptors = protox::compile([file], ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".lunxun.v1")
        .compile_fds(descriptors)?;
    Ok(())
}
