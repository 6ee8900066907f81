//! The board tick probe of docs/PERFORMANCE.md: `tick_count P T` builds a
//! room of P players (`busy_room`), then steps T ticks of every player
//! moving its locked piece, the inputs built before the first step. Count
//! the instructions inside the step with callgrind (`--toggle-collect=
//! *GameRoom*step*`), T = 100 minus T = 0; the final hash goes to stderr.
use tickroom_sim::fixtures::{busy_room, move_inputs};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let players: u16 = args[1].parse().unwrap();
    let ticks: u64 = args[2].parse().unwrap();
    let (mut room, members) = busy_room(players, 1);
    let inputs: Vec<_> = (1..=ticks).map(|r| move_inputs(&members, r)).collect();
    for i in inputs {
        let out = room.step(i);
        std::hint::black_box(&out);
    }
    eprintln!("{:?}", room.state_hash());
}
