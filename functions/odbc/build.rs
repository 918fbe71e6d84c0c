//! Where the linker finds libodbc when it is not this machine's: a build for Lambda links
//! against the layer's own (`make package-odbc` sets ODBC_LIB_DIR to it).

fn main() {
    println!("cargo:rerun-if-env-changed=ODBC_LIB_DIR");
    if let Some(directory) = std::env::var_os("ODBC_LIB_DIR") {
        println!(
            "cargo:rustc-link-search=native={}",
            directory.to_string_lossy()
        );
    }
}
