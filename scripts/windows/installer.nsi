; Per-user installer of careplan for Windows 10/11 (NSIS 3, built on Linux by
; scripts/windows/build.sh with Debian's `nsis`).
;
; - No administrator rights: RequestExecutionLevel user, installs into
;   %LOCALAPPDATA%\Programs\careplan, writes only HKCU.
; - Start-menu entry (current user) and an entry in Settings → Apps (HKCU Uninstall key).
; - The uninstaller removes exactly what the installer wrote; the user's data
;   (%APPDATA%\careplan: settings, drafts, ledger) is kept unless the user says otherwise
;   (the ledger is an audit record). Silent uninstall (/S) always keeps it.
;
; Defines passed by build.sh: VERSION (x.y.z), SRCDIR (staged files), OUTFILE, ICON.

; 64-bit installer (the app is x64 only; also lets Wine without 32-bit support run it).
Target amd64-unicode
ManifestDPIAware true
ManifestSupportedOS all
RequestExecutionLevel user
SetCompressor /SOLID lzma

!include "MUI2.nsh"
!include "FileFunc.nsh"

!define APPNAME "careplan"
!define DISPLAYNAME "ケアプランデータ連携 (careplan)"
!define PUBLISHER "careplan project"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\careplan"

Name "${DISPLAYNAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\careplan"
InstallDirRegKey HKCU "Software\careplan" "InstallDir"
BrandingText "careplan ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=1041 "ProductName" "${DISPLAYNAME}"
VIAddVersionKey /LANG=1041 "FileDescription" "${DISPLAYNAME} セットアップ"
VIAddVersionKey /LANG=1041 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1041 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=1041 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=1041 "LegalCopyright" "MIT OR Apache-2.0"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\careplan.exe"
!define MUI_FINISHPAGE_SHOWREADME "$INSTDIR\README-ja.txt"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${SRCDIR}\LICENSE-MIT.txt"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "Japanese"

Section "careplan" SecMain
  SectionIn RO
  SetShellVarContext current
  SetOutPath "$INSTDIR"
  File "${SRCDIR}\careplan.exe"
  File "${SRCDIR}\README-ja.txt"
  File "${SRCDIR}\LICENSE-MIT.txt"
  File "${SRCDIR}\LICENSE-APACHE.txt"
  File "${SRCDIR}\OFL.txt"
  File "${SRCDIR}\THIRD-PARTY.txt"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortCut "$SMPROGRAMS\${DISPLAYNAME}.lnk" "$INSTDIR\careplan.exe" "" "$INSTDIR\careplan.exe" 0

  WriteRegStr HKCU "Software\careplan" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayName" "${DISPLAYNAME}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTKEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\careplan.exe"
  WriteRegStr HKCU "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINSTKEY}" "EstimatedSize" "$0"
SectionEnd

; Optional, off by default: the same HKCU Run value the app's 自動送受信 tab sets
; (src/autostart.rs), so either side can undo the other.
Section /o "パソコンにログインしたら起動する" SecAutostart
  WriteRegStr HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "careplan" '"$INSTDIR\careplan.exe"'
SectionEnd

Section "Uninstall"
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "careplan"
  SetShellVarContext current
  Delete "$SMPROGRAMS\${DISPLAYNAME}.lnk"
  Delete "$INSTDIR\careplan.exe"
  Delete "$INSTDIR\README-ja.txt"
  Delete "$INSTDIR\LICENSE-MIT.txt"
  Delete "$INSTDIR\LICENSE-APACHE.txt"
  Delete "$INSTDIR\OFL.txt"
  Delete "$INSTDIR\THIRD-PARTY.txt"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTKEY}"
  DeleteRegKey HKCU "Software\careplan"
  IfSilent keep_data
  MessageBox MB_YESNO|MB_ICONQUESTION|MB_DEFBUTTON2 \
    "送受信台帳・設定・下書きなどのデータ（$APPDATA\careplan）も削除しますか？$\r$\n台帳は監査の記録です。通常は「いいえ」を選んでください。" \
    IDNO keep_data
  RMDir /r "$APPDATA\careplan"
  RMDir /r "$LOCALAPPDATA\careplan"
keep_data:
SectionEnd
