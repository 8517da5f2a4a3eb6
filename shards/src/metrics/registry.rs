//! A shard's registry of metric collectors: the services register themselves when the shard
//! is assembled, and a scrape asks each to write its families. Counting stays in plain,
//! unsynchronised fields of each service on its own thread; nothing is shared until a
//! scrape asks.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::family::Families;

/// Something that reports metric families.
pub trait Collect {
    fn collect(&self, out: &mut Families);
}

/// One shard's collectors, in the order their families are written.
#[derive(Default)]
pub struct Registry {
    // Weak: the collectors (services) hold the shard context that holds this registry.
    collectors: RefCell<Vec<Weak<dyn Collect>>>,
}

impl Registry {
    pub fn register<C: Collect + 'static>(&self, collector: &Rc<C>) {
        let weak: Weak<dyn Collect> = Rc::downgrade(collector) as Weak<dyn Collect>;
        self.collectors.borrow_mut().push(weak);
    }

    /// Every collector's families.
    pub fn collect(&self) -> Families {
        let mut out = Families::default();
        for collector in self.collectors.borrow().iter().filter_map(Weak::upgrade) {
            collector.collect(&mut out);
        }
        out
    }
}
