//! Which layers anyone may read without signing in (boundaries, published plans), kept in the
//! store's settings so that the change is audited like any other.

use std::collections::BTreeSet;

use tudi_store::{Change, Store, StoreError};

/// The settings key.
const KEY: &str = "public_layers";

/// The layers configured public.
///
/// # Errors
/// Store errors.
pub fn public_layers(store: &dyn Store) -> Result<BTreeSet<String>, StoreError> {
    Ok(store
        .meta(KEY)?
        .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default())
}

/// Makes `layer` public or not; returns the public layers after the change.
///
/// # Errors
/// [`StoreError::UnknownLayer`]; store errors.
pub fn set_public(
    store: &dyn Store,
    layer: &str,
    public: bool,
    change: &Change,
) -> Result<Vec<String>, StoreError> {
    store.layer_def(layer)?;
    let mut set = public_layers(store)?;
    if public {
        set.insert(layer.to_owned());
    } else {
        set.remove(layer);
    }
    let list: Vec<String> = set.into_iter().collect();
    let text = serde_json::to_string(&list).map_err(|e| StoreError::Schema(e.to_string()))?;
    store.set_meta(KEY, &text, change)?;
    Ok(list)
}
