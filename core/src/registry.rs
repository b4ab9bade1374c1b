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
//! let mut registry: Registry<u32, BuildHasherDefault<DefaultHasher>> = Registry::default();
//! registry.insert("ws_1", 1);
//! registry.insert("ws_2", 2);
//! registry.join("ws_1", "lobby");
//! assert_eq!(registry.members("lobby").map(|(id, _)| id).collect::<Vec<_>>(), ["ws_1"]);
//! registry.remove("ws_1"); // and out of its rooms
//! assert!(registry.rooms().is_empty());
//! ```

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Connections by id, and rooms by name. A room exists while it has
/// members. Looking up a room's members costs O(members), never
/// O(connections).
///
/// A connection's key is its id as a shared `Arc<str>`: a WebSocket
/// connection's key is the very id its state holds, not a copy.
#[derive(Debug)]
pub struct Registry<T, S> {
    connections: HashMap<Arc<str>, Member<T>, S>,
    rooms: HashMap<String, HashMap<String, T, S>, S>,
}

#[derive(Debug)]
struct Member<T> {
    value: T,
    /// Boxed, and only once it joins a room: most connections never do,
    /// and every map slot pays for this field's size (8 bytes, not a
    /// `BTreeSet`'s 24).
    #[allow(clippy::box_collection)]
    rooms: Option<Box<BTreeSet<String>>>,
}

impl<T, S: Default> Default for Registry<T, S> {
    fn default() -> Self {
        Registry {
            connections: HashMap::default(),
            rooms: HashMap::default(),
        }
    }
}

impl<T: Clone, S: BuildHasher + Default> Registry<T, S> {
    /// Adds a connection; `false` (and nothing changes) if the id is taken.
    pub fn insert(&mut self, id: impl Into<Arc<str>>, value: T) -> bool {
        let id = id.into();
        if self.connections.contains_key(&*id) {
            return false;
        }
        let member = Member { value, rooms: None };
        self.connections.insert(id, member);
        true
    }

    /// Removes a connection and leaves its rooms.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let member = self.connections.remove(id)?;
        for room in member.rooms.iter().flat_map(|rooms| rooms.iter()) {
            self.remove_from_room(room, id);
        }
        Some(member.value)
    }

    /// What is stored for connection `id`.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.connections.get(id).map(|member| &member.value)
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
        self.connections
            .iter()
            .map(|(id, member)| (&**id, &member.value))
    }

    /// Puts connection `id` in `room`; `false` if it is unknown or already there.
    pub fn join(&mut self, id: &str, room: &str) -> bool {
        let Some(member) = self.connections.get_mut(id) else {
            return false;
        };
        if !member
            .rooms
            .get_or_insert_with(Box::default)
            .insert(room.to_owned())
        {
            return false;
        }
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .insert(id.to_owned(), member.value.clone());
        true
    }

    /// Takes connection `id` out of `room`; `false` if it was not there.
    pub fn leave(&mut self, id: &str, room: &str) -> bool {
        let Some(member) = self.connections.get_mut(id) else {
            return false;
        };
        let Some(rooms) = member.rooms.as_mut() else {
            return false;
        };
        if !rooms.remove(room) {
            return false;
        }
        if rooms.is_empty() {
            member.rooms = None;
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
        self.connections
            .get(id)
            .and_then(|member| member.rooms.as_ref())
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

    type Registry = super::Registry<u32, BuildHasherDefault<DefaultHasher>>;

    fn sorted<'a>(ids: impl Iterator<Item = (&'a str, &'a u32)>) -> Vec<&'a str> {
        let mut ids: Vec<_> = ids.map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn join_leave_members_and_rooms_of() {
        let mut registry = Registry::default();
        assert!(registry.insert("a", 1));
        assert!(registry.insert("b", 2));
        assert!(!registry.insert("a", 3), "ids are unique");
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
    }

    #[test]
    fn removal_leaves_every_room_and_empty_rooms_vanish() {
        let mut registry = Registry::default();
        registry.insert("a", 1);
        registry.insert("b", 2);
        registry.join("a", "x");
        registry.join("a", "y");
        registry.join("b", "y");
        assert_eq!(registry.remove("a"), Some(1));
        assert_eq!(registry.remove("a"), None);
        assert_eq!(registry.members("x").count(), 0);
        assert_eq!(sorted(registry.members("y")), ["b"]);
        assert_eq!(registry.rooms(), [("y".to_owned(), 1)]);
        assert_eq!(registry.len(), 1);
        assert!(registry.get("a").is_none());
        assert_eq!(registry.get("b"), Some(&2));
    }
}
