//! Cancel safety: a dropped `read` future loses no message; a dropped
//! `write` future that was waiting for buffer space queues nothing.

use std::time::Duration;

use futures_util::future::{Either, select};
use std::pin::pin;
use tidings_framework::close::CloseCode;
use tidings_tests::{
    ClientConfig, Connection, Message, Router, ServerConfig, TestRuntime, all_runtimes, channel,
    client, expect_closed, sleep, start_server, timeout,
};

all_runtimes!(dropped_read_loses_nothing, dropped_write_queues_nothing);

const READS: usize = 60;

async fn dropped_read_loses_nothing<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", |_ctx, conn: Connection| async move {
        for i in 0..READS {
            conn.write(format!("{i}")).await?;
            // Irregular gaps, some longer than the reader's patience.
            sleep::<N>(Duration::from_millis((i as u64 * 7) % 6)).await;
        }
        Ok(())
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    let mut received = Vec::new();
    let mut cancelled = 0;
    while received.len() < READS {
        let read = pin!(conn.read());
        let patience = pin!(sleep::<N>(Duration::from_millis(1)));
        match select(read, patience).await {
            Either::Left((message, _)) => received.push(message.expect("a message")),
            Either::Right(((), _)) => cancelled += 1,
        }
    }
    let expected: Vec<Message> = (0..READS).map(|i| Message::from(format!("{i}"))).collect();
    assert_eq!(received, expected);
    assert!(cancelled > 0, "some reads were dropped before completing");
    let closed = expect_closed(conn.read().await);
    assert_eq!(closed.code(), CloseCode::NORMAL);
}

fn big_message(i: usize) -> String {
    let mut text = format!("{i:08}:");
    text.extend(std::iter::repeat_n('x', 16 * 1024 - text.len()));
    text
}

async fn dropped_write_queues_nothing<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<Result<usize, String>>(1);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let tx = tx.clone();
        async move {
            // Write until a write waits for buffer space for 200 ms (the
            // client has stopped reading), then drop that write.
            let mut sent = 0;
            loop {
                match timeout::<N, _>(Duration::from_millis(200), conn.write(big_message(sent)))
                    .await
                {
                    Ok(result) => result?,
                    Err(_elapsed) => break,
                }
                sent += 1;
                if sent == 20_000 {
                    let _ = tx.send(Err("the write buffer never filled".into())).await;
                    return Ok(());
                }
            }
            let _ = tx.send(Ok(sent)).await;
            conn.write("after").await?;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default().write_buffer_size(1024)).await;
    // The client stops reading its socket once one message waits unread.
    let mut config = ClientConfig::default();
    config.read_queue_size = 1;
    let conn = client::<N>(&server.url("/ws"), config).await;

    let sent = rx.recv().await.unwrap().expect("a write waited");
    assert!(sent > 0);
    for i in 0..sent {
        assert_eq!(
            conn.read().await.unwrap(),
            Message::from(big_message(i)),
            "message {i}"
        );
    }
    // Not message `sent`: its write was dropped before it was queued.
    assert_eq!(conn.read().await.unwrap(), Message::from("after"));
    let closed = expect_closed(conn.read().await);
    assert_eq!(closed.code(), CloseCode::NORMAL);
}
