//! The admin console (temporary module root until the console skeleton lands).

pub mod audit_view;
pub mod authentication_view;
pub mod chart;
pub mod platform_view;
pub mod values;
pub mod webhooks_view;
