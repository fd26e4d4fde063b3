//! One thread serving two sockets with `poll`: a PULL for work and a SUB for control
//! messages; a "stop" on the control topic ends the loop. Run:
//! `cargo run -p ringlink --example poll_loop`.

use std::time::Duration;

use ringlink::{poll, Context, PollItem, SocketType, POLLIN};

fn main() -> ringlink::Result<()> {
    let ctx = Context::new()?;
    let mut work = ctx.socket(SocketType::Pull)?;
    work.bind("inproc://poll-work")?;
    let mut controller = ctx.socket(SocketType::XPub)?;
    controller.bind("inproc://poll-control")?;
    let mut control = ctx.socket(SocketType::Sub)?;
    control.connect("inproc://poll-control")?;
    control.subscribe("ctl")?;
    assert_eq!(controller.recv_bytes(0)?, b"\x01ctl"); // the subscription has arrived

    let mut producer = ctx.socket(SocketType::Push)?;
    producer.connect("inproc://poll-work")?;
    for i in 0..100u32 {
        producer.send(&i.to_le_bytes(), 0)?;
    }

    let mut handled = 0;
    let mut stop_sent = false;
    loop {
        let mut items = [
            PollItem::socket(&mut work, POLLIN),
            PollItem::socket(&mut control, POLLIN),
        ];
        let ready = poll(&mut items, Some(Duration::from_secs(10)))?;
        assert!(ready > 0, "nothing within 10 s");
        let (work_ready, control_ready) = (
            items[0].revents.contains(POLLIN),
            items[1].revents.contains(POLLIN),
        );
        if work_ready {
            work.recv_bytes(0)?;
            handled += 1;
            if handled == 100 && !stop_sent {
                controller.send(b"ctl stop", 0)?;
                stop_sent = true;
            }
        }
        if control_ready {
            let cmd = control.recv_bytes(0)?;
            assert_eq!(cmd, b"ctl stop");
            break;
        }
    }
    assert_eq!(handled, 100);
    println!("handled {handled} work items, then stopped");
    Ok(())
}
