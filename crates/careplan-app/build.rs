//! Windows resources of `careplan.exe`: the application icon, version information (shown in
//! Explorer's Properties → Details) and an application manifest (run as the invoking user,
//! never elevated; per-monitor DPI awareness; common controls v6 for the file dialogs).
//!
//! Only active when the *target* is Windows (a cross-build from Linux uses mingw-w64's
//! `x86_64-w64-mingw32-windres`); on every other target this script does nothing.

use std::env;

/// Application manifest: `asInvoker` so that no administrator rights are ever asked for,
/// Windows 10/11 compatibility, per-monitor (v2) DPI awareness, UTF-8 as the process code
/// page and common controls v6.
const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v1" manifestVersion="1.0" xmlns:asmv3="urn:schemas-microsoft-com:asm.v3">
  <assemblyIdentity type="win32" name="careplan.careplan" version="0.0.0.0" processorArchitecture="amd64"/>
  <trustInfo xmlns="urn:schemas-microsoft-com:asm.v3">
    <security>
      <requestedPrivileges>
        <requestedExecutionLevel level="asInvoker" uiAccess="false"/>
      </requestedPrivileges>
    </security>
  </trustInfo>
  <compatibility xmlns="urn:schemas-microsoft-com:compatibility.v1">
    <application>
      <supportedOS Id="{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}"/>
    </application>
  </compatibility>
  <asmv3:application>
    <asmv3:windowsSettings>
      <dpiAware xmlns="http://schemas.microsoft.com/SMI/2005/WindowsSettings">true/pm</dpiAware>
      <dpiAwareness xmlns="http://schemas.microsoft.com/SMI/2016/WindowsSettings">PerMonitorV2, PerMonitor</dpiAwareness>
      <activeCodePage xmlns="http://schemas.microsoft.com/SMI/2019/WindowsSettings">UTF-8</activeCodePage>
    </asmv3:windowsSettings>
  </asmv3:application>
  <dependency>
    <dependentAssembly>
      <assemblyIdentity type="win32" name="Microsoft.Windows.Common-Controls" version="6.0.0.0" processorArchitecture="*" publicKeyToken="6595b64144ccf1df" language="*"/>
    </dependentAssembly>
  </dependency>
</assembly>
"#;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../assets/icon.ico");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let icon = std::path::Path::new(&manifest_dir).join("../../assets/icon.ico");
    let mut res = winresource::WindowsResource::new();
    res.set_icon(&icon.to_string_lossy())
        // Japanese (Japan), so that Explorer shows the Japanese strings.
        .set_language(0x0411)
        .set("ProductName", "careplan ケアプランデータ連携クライアント")
        .set("FileDescription", "ケアプランデータ連携クライアント")
        .set("CompanyName", "careplan project")
        .set("LegalCopyright", "MIT OR Apache-2.0")
        .set("OriginalFilename", "careplan.exe")
        .set("InternalName", "careplan")
        .set("FileVersion", &version)
        .set("ProductVersion", &version)
        .set_manifest(MANIFEST);
    if let Err(e) = res.compile_for("careplan") {
        // Loud: a Windows exe without its icon and version information is not shippable.
        panic!(
            "Windows resources could not be compiled ({e}). Install mingw-w64's windres: \
             apt-get install -y --no-install-recommends binutils-mingw-w64-x86-64 \
             (or set WINDRES to a resource compiler)"
        );
    }
}
