//! A spatial index over feature envelopes, with exact predicates on top.
//!
//! An R*-tree (rstar 0.12, bulk-loaded) holds one rectangle per feature; queries take the
//! candidates whose rectangles match and confirm them against the geometry. Memory is one
//! 40-byte tree entry per feature plus the geometries the caller keeps.

use geo::{BoundingRect, Contains, Intersects};
use geo_types::{Coord, Geometry, Point, Rect};
use rstar::{AABB, RTree, primitives::GeomWithData, primitives::Rectangle};

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Index of geometries by position in the slice they were built from.
#[derive(Debug)]
pub struct SpatialIndex {
    tree: RTree<Entry>,
}

impl SpatialIndex {
    /// Bulk-loads the envelopes of `geoms`; entry *i* refers to `geoms[i]`. Empty geometries are
    /// left out.
    #[must_use]
    pub fn build(geoms: &[Geometry<f64>]) -> Self {
        Self::from_envelopes(geoms.iter().map(BoundingRect::bounding_rect))
    }

    /// Bulk-loads from envelopes, one per item in order (`None` for an empty item).
    pub fn from_envelopes(envelopes: impl Iterator<Item = Option<Rect<f64>>>) -> Self {
        let entries: Vec<Entry> = envelopes
            .enumerate()
            .filter_map(|(i, r)| {
                let r = r?;
                let id = u32::try_from(i).ok()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    id,
                ))
            })
            .collect();
        Self {
            tree: RTree::bulk_load(entries),
        }
    }

    /// Number of indexed items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether nothing is indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Items whose envelope intersects `rect`.
    pub fn envelope_candidates(&self, rect: Rect<f64>) -> impl Iterator<Item = usize> + '_ {
        let aabb = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        self.tree
            .locate_in_envelope_intersecting(&aabb)
            .map(|e| e.data as usize)
    }

    /// Items whose geometry contains `pt` (boundary excluded), checked exactly.
    pub fn containing<'a>(
        &'a self,
        geoms: &'a [Geometry<f64>],
        pt: Coord<f64>,
    ) -> impl Iterator<Item = usize> + 'a {
        self.tree
            .locate_all_at_point(&[pt.x, pt.y])
            .map(|e| e.data as usize)
            .filter(move |&i| geoms.get(i).is_some_and(|g| g.contains(&Point(pt))))
    }

    /// Items whose geometry intersects `geom`, checked exactly.
    pub fn intersecting<'a>(
        &'a self,
        geoms: &'a [Geometry<f64>],
        geom: &'a Geometry<f64>,
    ) -> impl Iterator<Item = usize> + 'a {
        let rect = geom.bounding_rect();
        rect.into_iter()
            .flat_map(move |r| self.envelope_candidates(r))
            .filter(move |&i| geoms.get(i).is_some_and(|g| g.intersects(geom)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn finds_the_cell_containing_a_point() {
        let cells: Vec<Geometry<f64>> = (0..10)
            .flat_map(|i| (0..10).map(move |j| (f64::from(i), f64::from(j))))
            .map(|(x, y)| polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0)].into())
            .collect();
        let idx = SpatialIndex::build(&cells);
        assert_eq!(idx.len(), 100);
        let hits: Vec<usize> = idx.containing(&cells, Coord { x: 3.5, y: 7.5 }).collect();
        assert_eq!(hits, vec![37]);
        assert_eq!(idx.containing(&cells, Coord { x: 30.0, y: 7.5 }).count(), 0);
        let q: Geometry<f64> =
            polygon![(x: 0.5, y: 0.5), (x: 1.5, y: 0.5), (x: 1.5, y: 1.5), (x: 0.5, y: 1.5)].into();
        let mut hits: Vec<usize> = idx.intersecting(&cells, &q).collect();
        hits.sort_unstable();
        assert_eq!(hits, vec![0, 1, 10, 11]);
    }
}
