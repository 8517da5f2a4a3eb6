//! [`EventSink`]: where a state machine's commands send their events before applying them,
//! the shard's log in the server and a `Vec` in tests. Shared by the flash-sale inventory
//! (`seckill::Event`) and the device shadows (`shadow::ShadowEvent`).

pub trait EventSink<E> {
    fn record(&mut self, event: &E);
}

impl<E: Clone> EventSink<E> for Vec<E> {
    fn record(&mut self, event: &E) {
        self.push(event.clone());
    }
}
