//! Rooms and a connection registry without any I/O: connections by id and
//! rooms with their members, generic over what is stored per connection
//! (`T`) and over the maps' hasher (`S`).
//!
//! The hasher comes from the caller, so the core stays deterministic: a
//! server facing the network passes `std::collections::hash_map::RandomState`
//! (keys chosen by clients cannot be made to collide), a test or a
//! simulation a fixed one.
//!
//! ```
//! use std::hash::{BuildHasherDefault, DefaultHasher};
//! use tidings_core::registry::Registry;
//!
//! // A value is keyed by its own id: here the first half of a pair.
//! let mut registry: Registry<(&str, u32), BuildHasherDefault<DefaultHasher>> = Registry::default();
//! registry.insert(("ws_1", 1));
//! registry.insert(("ws_2", 2));
//! registry.join("ws_1", "lobby");
//! assert_eq!(registry.members("lobby").map(|(id, _)| id).collect::<Vec<_>>(), ["ws_1"]);
//! registry.remove("ws_1"); // and out of its rooms
//! assert!(registry.rooms().is_empty());
//! ```

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

/// What a [`Registry`] stores per connection: a value that knows its
/// connection's id, the registry's key (so the key costs no room of its
/// own in the map).
pub trait Keyed {
    /// The connection's id. It must not change while the value is in a
    /// registry.
    fn key(&self) -> &str;
}

/// A pair keyed by its first half, e.g. `(id, value)`.
impl<K: AsRef<str>, V> Keyed for (K, V) {
    fn key(&self) -> &str {
        self.0.as_ref()
    }
}

/// Connections by id, and rooms by name. A room exists while it has
/// members. Looking up a room's members costs O(members), never
/// O(connections).
///
/// A connection's key is the id its value holds ([`Keyed`]): a map slot
/// is the value alone (for a server's connection, one pointer to its
/// state), not a copy of the id or a pointer to it beside the value.
/// Room memberships are kept apart, for the connections that have some.
#[derive(Debug)]
pub struct Registry<T, S> {
    connections: HashSet<Slot<T>, S>,
    /// The rooms of each connection that is in one, sorted.
    memberships: HashMap<String, BTreeSet<String>, S>,
    rooms: HashMap<String, HashMap<String, T, S>, S>,
}

/// A value in the connection set, hashed and compared by its key (as the
/// `str` it borrows as, so a lookup by `&str` finds it).
#[derive(Debug)]
struct Slot<T>(T);

impl<T: Keyed> Hash for Slot<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key().hash(state);
    }
}

impl<T: Keyed> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl<T: Keyed> Eq for Slot<T> {}

impl<T: Keyed> Borrow<str> for Slot<T> {
    fn borrow(&self) -> &str {
        self.0.key()
    }
}

impl<T, S: Default> Default for Registry<T, S> {
    fn default() -> Self {
        Registry {
            connections: HashSet::default(),
            memberships: HashMap::default(),
            rooms: HashMap::default(),
        }
    }
}

impl<T: Keyed + Clone, S: BuildHasher + Default> Registry<T, S> {
    /// Adds a connection under its value's id; `false` (and nothing
    /// changes) if the id is taken.
    pub fn insert(&mut self, value: T) -> bool {
        // A set keeps the value it has: a taken id changes nothing.
        self.connections.insert(Slot(value))
    }

    /// Removes a connection and leaves its rooms.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let Slot(value) = self.connections.take(id)?;
        if let Some(rooms) = self.memberships.remove(id) {
            for room in &rooms {
                self.remove_from_room(room, id);
            }
        }
        Some(value)
    }

    /// What is stored for connection `id`.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.connections.get(id).map(|slot| &slot.0)
    }

    /// How many connections there are.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Every connection, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = (&str, &T)> {
        self.connections.iter().map(|slot| (slot.0.key(), &slot.0))
    }

    /// Puts connection `id` in `room`; `false` if it is unknown or already there.
    pub fn join(&mut self, id: &str, room: &str) -> bool {
        let Some(Slot(value)) = self.connections.get(id) else {
            return false;
        };
        let newly = match self.memberships.get_mut(id) {
            Some(rooms) => rooms.insert(room.to_owned()),
            None => {
                let rooms = BTreeSet::from([room.to_owned()]);
                self.memberships.insert(id.to_owned(), rooms);
                true
            }
        };
        if !newly {
            return false;
        }
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .insert(id.to_owned(), value.clone());
        true
    }

    /// Takes connection `id` out of `room`; `false` if it was not there.
    pub fn leave(&mut self, id: &str, room: &str) -> bool {
        let Some(rooms) = self.memberships.get_mut(id) else {
            return false;
        };
        if !rooms.remove(room) {
            return false;
        }
        if rooms.is_empty() {
            self.memberships.remove(id);
        }
        self.remove_from_room(room, id);
        true
    }

    fn remove_from_room(&mut self, room: &str, id: &str) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// The members of `room`, in no particular order (empty if none). Its
    /// length is known up front (`size_hint`), so a caller collecting them
    /// allocates once.
    pub fn members(&self, room: &str) -> impl Iterator<Item = (&str, &T)> {
        self.rooms
            .get(room)
            .map(HashMap::iter)
            .unwrap_or_default()
            .map(|(id, value)| (id.as_str(), value))
    }

    /// The rooms of connection `id`, sorted.
    pub fn rooms_of(&self, id: &str) -> Vec<String> {
        self.memberships
            .get(id)
            .map(|rooms| rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every room with its member count, sorted by name.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        let mut rooms: Vec<_> = self
            .rooms
            .iter()
            .map(|(room, members)| (room.clone(), members.len()))
            .collect();
        rooms.sort();
        rooms
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasherDefault, DefaultHasher};

    type Registry = super::Registry<(&'static str, u32), BuildHasherDefault<DefaultHasher>>;

    fn sorted<'a>(ids: impl Iterator<Item = (&'a str, &'a (&'static str, u32))>) -> Vec<&'a str> {
        let mut ids: Vec<_> = ids.map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn join_leave_members_and_rooms_of() {
        let mut registry = Registry::default();
        assert!(registry.insert(("a", 1)));
        assert!(registry.insert(("b", 2)));
        assert!(!registry.insert(("a", 3)), "ids are unique");
        assert!(registry.join("a", "lobby"));
        assert!(!registry.join("a", "lobby"), "joining twice is a no-op");
        assert!(registry.join("b", "lobby"));
        assert!(registry.join("a", "games"));
        assert!(!registry.join("nobody", "lobby"));
        assert_eq!(sorted(registry.members("lobby")), ["a", "b"]);
        assert_eq!(registry.rooms_of("a"), ["games", "lobby"]);
        assert_eq!(
            registry.rooms(),
            [("games".to_owned(), 1), ("lobby".to_owned(), 2)]
        );

        assert!(registry.leave("b", "lobby"));
        assert!(!registry.leave("b", "lobby"));
        assert_eq!(sorted(registry.members("lobby")), ["a"]);
        assert!(registry.rooms_of("b").is_empty());
        // Only connections in a room have a membership record.
        assert_eq!(registry.memberships.len(), 1);
    }

    #[test]
    fn removal_leaves_every_room_and_empty_rooms_vanish() {
        let mut registry = Registry::default();
        registry.insert(("a", 1));
        registry.insert(("b", 2));
        registry.join("a", "x");
        registry.join("a", "y");
        registry.join("b", "y");
        assert_eq!(registry.remove("a"), Some(("a", 1)));
        assert_eq!(registry.remove("a"), None);
        assert_eq!(registry.members("x").count(), 0);
        assert_eq!(sorted(registry.members("y")), ["b"]);
        assert_eq!(registry.rooms(), [("y".to_owned(), 1)]);
        assert_eq!(registry.len(), 1);
        assert!(!registry.memberships.contains_key("a"));
        assert!(registry.get("a").is_none());
        assert_eq!(registry.get("b"), Some(&("b", 2)));
    }
}
