//! A table of one value per origin, indexed by the origin's dense id: the
//! view's heads and rosters. A node of a directory of 100,000 offices may
//! hear from each of them, and every change sets its origin's head, so a
//! lookup is an index rather than a hash (the directory bounds the table).

use crate::orgs::OrgId;

/// Values by origin.
#[derive(Debug)]
pub(crate) struct OrgTable<V> {
    by_org: Vec<Option<V>>,
    len: usize,
}

impl<V> Default for OrgTable<V> {
    fn default() -> OrgTable<V> {
        OrgTable {
            by_org: Vec::new(),
            len: 0,
        }
    }
}

impl<V> OrgTable<V> {
    pub fn get(&self, origin: &OrgId) -> Option<&V> {
        self.by_org.get(origin.index())?.as_ref()
    }

    pub fn get_mut(&mut self, origin: &OrgId) -> Option<&mut V> {
        self.by_org.get_mut(origin.index())?.as_mut()
    }

    /// The slot of `origin`, made room for.
    fn slot(&mut self, origin: OrgId) -> &mut Option<V> {
        let at = origin.index();
        if at >= self.by_org.len() {
            self.by_org.resize_with(at + 1, || None);
        }
        &mut self.by_org[at]
    }

    /// Sets `origin`'s value, returning the one it replaces.
    pub fn insert(&mut self, origin: OrgId, value: V) -> Option<V> {
        let old = self.slot(origin).replace(value);
        self.len += usize::from(old.is_none());
        old
    }

    /// `origin`'s value, a default one set first if it has none.
    pub fn or_default(&mut self, origin: OrgId) -> &mut V
    where
        V: Default,
    {
        if self.get(&origin).is_none() {
            self.len += 1;
        }
        self.slot(origin).get_or_insert_with(V::default)
    }

    /// How many origins have a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every origin's value, by id.
    pub fn iter(&self) -> impl Iterator<Item = (OrgId, &V)> {
        self.by_org
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((OrgId::from_index(i as u32), v.as_ref()?)))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.by_org.iter().flatten()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.by_org.iter_mut().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_set_replace_and_list_by_id() {
        let mut table: OrgTable<u64> = OrgTable::default();
        assert_eq!(table.insert(OrgId::from_index(7), 1), None);
        assert_eq!(table.insert(OrgId::from_index(2), 5), None);
        assert_eq!(table.insert(OrgId::from_index(7), 2), Some(1));
        *table.or_default(OrgId::from_index(4)) += 3;
        *table.or_default(OrgId::from_index(4)) += 3;
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(&OrgId::from_index(7)), Some(&2));
        assert_eq!(table.get(&OrgId::from_index(3)), None);
        assert_eq!(table.get(&OrgId::from_index(99)), None);
        *table.get_mut(&OrgId::from_index(2)).unwrap() += 1;
        let listed: Vec<(usize, u64)> = table.iter().map(|(o, v)| (o.index(), *v)).collect();
        assert_eq!(listed, [(2, 6), (4, 6), (7, 2)]);
        for v in table.values_mut() {
            *v += 1;
        }
        assert_eq!(table.values().sum::<u64>(), 17);
    }
}
