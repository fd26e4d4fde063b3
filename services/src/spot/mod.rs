//! SPOT, zlink's location-transparent topic mesh (zlink-spec §5.6). So far its sans-IO core:
//! topic and pattern rules and a node's reference-counted subscription table
//! ([`topics`]). The node (one PUB, a SUB mesh from Discovery or manual peers, local
//! delivery, handlers) is next (issue 14).

pub mod topics;
