//! `tickroom`: the stock server. It serves the built-in board (the default
//! mode), the tutorial's tic-tac-toe and the tabletop (both built outside
//! the core, in `examples/`); a game's own binary registers its modes the
//! same way (see `tickroom::Server`).

fn main() -> std::process::ExitCode {
    tickroom::Server::builder()
        .mode::<tickroom_sim::board::Board>()
        .mode::<tickroom_tictactoe::TicTacToe>()
        .mode::<tickroom_tabletop::Tabletop>()
        .run()
}
