; Inno Setup script for Torrazzo (Windows). Builds an installer from the one-folder
; PyInstaller build in dist\torrazzo (see README.md in this folder):
;
;   iscc packaging\windows\torrazzo.iss
;   iscc /DAppVersion=0.1.0 packaging\windows\torrazzo.iss     (override the version)
;
; The version is read from torrazzo.exe's version resource, which the PyInstaller spec
; writes from app.__version__.

#define AppName "Torrazzo"
#define AppExe "torrazzo.exe"
#define BundleDir AddBackslash(SourcePath) + "..\..\dist\torrazzo"
#ifndef AppVersion
  #define AppVersion GetVersionNumbersString(BundleDir + "\" + AppExe)
#endif

[Setup]
; A fixed AppId: upgrades replace the previous installation instead of adding a second one.
AppId={{6E0F8A52-3C1B-4C59-9E0A-7D1F2B7C9A31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Comune di Cremona - Polizia Locale
AppComments=Control-room client for city video surveillance
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-machine by default (a control room PC); the dialog lets a user install for themselves.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#SourcePath}\..\..\dist
OutputBaseFilename=torrazzo-{#AppVersion}-windows-x64-setup
SetupIconFile={#SourcePath}\..\..\resources\icons\torrazzo.ico
UninstallDisplayIcon={app}\{#AppExe}
LicenseFile={#BundleDir}\licenses\torrazzo\GPL-3.txt
InfoBeforeFile={#BundleDir}\licenses\THIRD_PARTY.md
Compression=lzma2/ultra64
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "italian"; MessagesFile: "compiler:Languages\Italian.isl"
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: torrazzo.exe, _internal\ (Python, Qt, FFmpeg, SDL, resources,
; ONVIF WSDL) and licenses\.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; Files of an older version that the new one no longer ships must not linger in _internal.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Videosorveglianza - Polizia Locale"
Name: "{group}\{#AppName} (demo)"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"
Name: "{group}\Third-party licences"; Filename: "{app}\licenses\THIRD_PARTY.md"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
