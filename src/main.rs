//! `tickroom`: the stock server, serving the built-in game modes.

fn main() -> std::process::ExitCode {
    tickroom::Server::builder()
        .mode::<tickroom_sim::board::Board>()
        .run()
}
