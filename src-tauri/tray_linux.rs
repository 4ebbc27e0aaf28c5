//! The Linux tray: a StatusNotifierItem with a `com.canonical.dbusmenu` menu, served by
//! [`ksni`] (pure Rust, over zbus) instead of Tauri's libappindicator tray.
//!
//! Why not Tauri's tray here: through `tray-icon` it only ever sets the item's `Status` to
//! `Active` or `Passive`; the `NeedsAttention` status and the attention icon of the
//! StatusNotifierItem protocol are reachable only through a raw pointer (unsafe code, which the
//! workspace forbids). With ksni the item says what [`Model::attention`] says: `Status` is
//! `NeedsAttention` and `AttentionIconPixmap` is the logo with a warning dot while an account
//! needs the user; the tooltip (a no-op in Tauri on Linux) names those accounts.
//!
//! The service runs on its own thread (ksni's async-io executor); menu callbacks only hand
//! the clicked id to [`super::on_menu`], which spawns the work on Tauri's runtime.

use ksni::blocking::TrayMethods;
use ksni::menu::{MenuItem, StandardItem};
use ksni::{Category, Icon, Status, ToolTip};
use tauri::{AppHandle, Manager, Runtime};

use super::{Entry, Model, TRAY_ID};
use crate::show_main_window;

/// Pixmap edge length handed to hosts (they scale it to the panel).
const ICON_SIZE: u32 = 64;

/// The item as ksni serves it.
pub struct SniTray<R: Runtime> {
    app: AppHandle<R>,
    model: Model,
    icon: Vec<Icon>,
    attention_icon: Vec<Icon>,
}

/// The running item, managed as Tauri state so [`update`] can reach it.
pub struct SniHandle<R: Runtime>(ksni::blocking::Handle<SniTray<R>>);

impl<R: Runtime> ksni::Tray for SniTray<R> {
    fn id(&self) -> String {
        TRAY_ID.to_string()
    }

    fn title(&self) -> String {
        "Latchkey".to_string()
    }

    fn category(&self) -> Category {
        Category::ApplicationStatus
    }

    fn status(&self) -> Status {
        if self.model.attention {
            Status::NeedsAttention
        } else {
            Status::Active
        }
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        self.icon.clone()
    }

    fn attention_icon_pixmap(&self) -> Vec<Icon> {
        self.attention_icon.clone()
    }

    fn tool_tip(&self) -> ToolTip {
        ToolTip {
            title: self.model.tooltip.clone(),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        show_main_window(&self.app);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        self.model
            .entries
            .iter()
            .map(|entry| match entry {
                Entry::Separator => MenuItem::Separator,
                Entry::Info(text) => StandardItem {
                    label: escape_mnemonic(text),
                    enabled: false,
                    ..Default::default()
                }
                .into(),
                Entry::Item { id, label } => {
                    let id = id.clone();
                    StandardItem {
                        label: escape_mnemonic(label),
                        activate: Box::new(move |tray: &mut Self| super::on_menu(&tray.app, &id)),
                        ..Default::default()
                    }
                    .into()
                }
            })
            .collect()
    }
}

/// dbusmenu labels treat `_` as a mnemonic marker; account names may contain one.
fn escape_mnemonic(text: &str) -> String {
    text.replace('_', "__")
}

/// Starts the item (registers with the StatusNotifierWatcher now, or when one appears). A
/// failure is logged: the window still works.
pub fn install<R: Runtime>(app: &AppHandle<R>, model: Model) {
    let (icon, attention_icon) = match app.default_window_icon() {
        Some(image) => {
            let base = scaled_argb(image.rgba(), image.width(), image.height(), ICON_SIZE);
            let warned = with_warning_dot(&base, ICON_SIZE);
            (vec![icon(base)], vec![icon(warned)])
        }
        None => (Vec::new(), Vec::new()),
    };
    let tray = SniTray {
        app: app.clone(),
        model,
        icon,
        attention_icon,
    };
    // A desktop may start its panel after the app: keep the item and register when a watcher
    // appears rather than failing now.
    match tray.assume_sni_available(true).spawn() {
        Ok(handle) => {
            app.manage(SniHandle(handle));
        }
        Err(e) => tracing::warn!("no tray icon (StatusNotifierItem): {e}"),
    }
}

/// Shows `model` in the running item.
pub fn update<R: Runtime>(app: &AppHandle<R>, model: Model) {
    if let Some(handle) = app.try_state::<SniHandle<R>>() {
        handle.0.update(move |tray| tray.model = model);
    }
}

fn icon(data: Vec<u8>) -> Icon {
    Icon {
        width: ICON_SIZE as i32,
        height: ICON_SIZE as i32,
        data,
    }
}

/// RGBA `w`×`h` → ARGB32 (network byte order) `size`×`size`, nearest neighbour.
fn scaled_argb(rgba: &[u8], w: u32, h: u32, size: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let sx = (x * w.max(1) / size).min(w.saturating_sub(1));
            let sy = (y * h.max(1) / size).min(h.saturating_sub(1));
            let i = ((sy * w + sx) * 4) as usize;
            match rgba.get(i..i + 4) {
                Some(&[r, g, b, a]) => out.extend_from_slice(&[a, r, g, b]),
                _ => out.extend_from_slice(&[0, 0, 0, 0]),
            }
        }
    }
    out
}

/// The icon with an orange dot in its lower right quarter (the attention icon).
fn with_warning_dot(argb: &[u8], size: u32) -> Vec<u8> {
    let mut out = argb.to_vec();
    let r = size as i64 / 5;
    let (cx, cy) = (size as i64 - r - 1, size as i64 - r - 1);
    for y in 0..size as i64 {
        for x in 0..size as i64 {
            let d2 = (x - cx).pow(2) + (y - cy).pow(2);
            if d2 <= r * r {
                let i = ((y * size as i64 + x) * 4) as usize;
                let px: [u8; 4] = if d2 >= (r - 2) * (r - 2) {
                    [255, 255, 255, 255]
                } else {
                    [255, 230, 120, 0]
                };
                if let Some(slot) = out.get_mut(i..i + 4) {
                    slot.copy_from_slice(&px);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixmaps_are_argb_and_the_attention_icon_differs() {
        // 2×1 RGBA: opaque red, transparent blue.
        let rgba = [255, 0, 0, 255, 0, 0, 255, 0];
        let argb = scaled_argb(&rgba, 2, 1, 2);
        assert_eq!(&argb[..8], &[255, 255, 0, 0, 0, 0, 0, 255]);
        let base = scaled_argb(&rgba, 2, 1, 20);
        let warned = with_warning_dot(&base, 20);
        assert_eq!(base.len(), warned.len());
        assert_ne!(base, warned);
        // The corner opposite the dot is untouched.
        assert_eq!(&base[..4], &warned[..4]);
    }

    #[test]
    fn underscores_are_not_mnemonics() {
        assert_eq!(
            escape_mnemonic("Sign in to my_work…"),
            "Sign in to my__work…"
        );
    }
}
