fn main() -> std::process::ExitCode {
    playmark::cli::main()
}
