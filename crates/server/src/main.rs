fn main() -> anyhow::Result<()> {
    chatmall::cli::main()
}
