//! Sign-in flows. [`pkce`]: the authorization code flow with PKCE (S256), whose callback arrives
//! by [`loopback`] or by the desktop app's custom URI scheme; both end in the same completion
//! path of [`crate::manager::LoginManager`]. [`device`]: the device authorization grant (RFC
//! 8628).

pub mod device;
pub mod loopback;
pub mod pkce;
