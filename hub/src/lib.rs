//! lunxun-hub: a node that also accepts its subordinates' syncs.
