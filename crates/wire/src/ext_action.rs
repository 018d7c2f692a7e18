//! What to do after an extension message (ut_metadata, ut_pex) could not be used.
//!
//! These messages ride inside a BEP 10 frame that the codec already accepted, so a bad one
//! does not desynchronise the stream: unlike a [`crate::WireError`], it need not cost the
//! connection. Each extension error says which of the two outcomes applies.

/// The owner's next step after an extension message error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtAction {
    /// Drop this one message and keep the connection: the protocol says to ignore it (BEP 9:
    /// unknown message types), or it is harmless noise (a PEX message that came too soon).
    IgnoreMessage,
    /// Close the connection: the peer sends messages no compliant client produces, so nothing
    /// else it says on this extension can be trusted either.
    Disconnect,
}
