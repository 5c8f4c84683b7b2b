//! Every text the portal's pages show, in one catalogue: English (shipped, the fallback) and
//! German, chosen per request by `Accept-Language` (q-values honoured). A text is plain: the
//! page escapes it; a `{name}` in it is filled in (escaped) by the page.

/// A language the portal speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English: the fallback.
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, the fallback first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The language tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    fn of_tag(range: &str) -> Option<Lang> {
        let primary = range.split('-').next().unwrap_or("");
        Lang::ALL.into_iter().find(|l| primary.eq_ignore_ascii_case(l.tag()))
    }

    /// The language an `Accept-Language` header asks for: the supported range with the highest
    /// q-value (the first of equals; `q=0` means "not this"), English when none is supported.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in header.unwrap_or("").split(',').take(32) {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").map(quality)).unwrap_or(Some(1000));
            let (Some(q), Some(lang)) = (q, Lang::of_tag(range)) else { continue };
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

/// A q-value in thousandths (`None` when malformed).
fn quality(v: &str) -> Option<u16> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" if frac.bytes().all(|b| b == b'0') => return Some(1000),
        _ => return None,
    };
    let digits = format!("{frac:0<3}");
    digits.parse::<u16>().ok().map(|f| whole + f)
}

macro_rules! catalogue {
    ($($key:ident => $en:expr, $de:expr;)*) => {
        /// A portal text's key.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum M { $($key),* }

        impl M {
            /// Every key.
            pub const ALL: &'static [M] = &[$(M::$key),*];

            /// The text in `lang`.
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((M::$key, Lang::En) => $en, (M::$key, Lang::De) => $de,)*
                }
            }
        }
    };
}

catalogue! {
    Product => "Gatehouse", "Gatehouse";
    // Titles and headings.
    SignIn => "Sign in", "Anmelden";
    SignedIn => "Signed in", "Angemeldet";
    SignInWithCode => "Sign in with a code", "Mit einem Code anmelden";
    EnterYourCode => "Enter your code", "Code eingeben";
    SecondFactor => "Second factor", "Zweiter Faktor";
    SecondFactorNeeded => "Second factor needed", "Zweiter Faktor nötig";
    AuthenticatorApp => "Authenticator app", "Authenticator-App";
    AuthenticatorAdded => "Authenticator app added", "Authenticator-App hinzugefügt";
    ScanThisCode => "Scan this code", "Diesen Code scannen";
    ResetYourPassword => "Reset your password", "Passwort zurücksetzen";
    ChooseNewPassword => "Choose a new password", "Neues Passwort wählen";
    CheckYourMessages => "Check your messages", "Sehen Sie in Ihre Nachrichten";
    PasswordChanged => "Password changed", "Passwort geändert";
    SignInWithLink => "Sign in with a link", "Mit einem Link anmelden";
    CheckYourEmail => "Check your e-mail", "Sehen Sie in Ihre E-Mails";
    // Labels and buttons.
    LabelIdentifier => "Email, mobile or username", "E-Mail, Mobilnummer oder Benutzername";
    LabelEmailOrMobile => "Email or mobile", "E-Mail oder Mobilnummer";
    LabelEmail => "Email", "E-Mail";
    LabelPassword => "Password", "Passwort";
    LabelCode => "Code", "Code";
    LabelMethod => "Method", "Methode";
    LabelAppCode => "Code shown by the app", "Code aus der App";
    LabelNewPassword => "New password", "Neues Passwort";
    LabelNewPasswordAgain => "New password again", "Neues Passwort wiederholen";
    ButtonSignIn => "Sign in", "Anmelden";
    ButtonSendCode => "Send code", "Code senden";
    ButtonVerify => "Verify", "Bestätigen";
    ButtonContinue => "Continue", "Weiter";
    ButtonSendCodeInstead => "Send me a code instead", "Stattdessen einen Code senden";
    ButtonSetUpApp => "Set up an authenticator app", "Authenticator-App einrichten";
    ButtonConfirm => "Confirm", "Bestätigen";
    ButtonSend => "Send", "Senden";
    ButtonSetPassword => "Set password", "Passwort setzen";
    ButtonSendLink => "Send me a link", "Link senden";
    MethodOtp => "Code sent to you by e-mail or SMS", "Per E-Mail oder SMS gesendeter Code";
    MethodTotp => "Code from your authenticator app", "Code aus Ihrer Authenticator-App";
    MethodRecovery => "Recovery code", "Wiederherstellungscode";
    // Links.
    LinkCodeInstead => "Sign in with a one-time code instead", "Stattdessen mit einem Einmalcode anmelden";
    LinkMagic => "E-mail me a sign-in link", "Anmeldelink per E-Mail senden";
    LinkForgot => "Forgot password?", "Passwort vergessen?";
    LinkPasswordInstead => "Sign in with a password instead", "Stattdessen mit Passwort anmelden";
    LinkBackToSignIn => "Back to sign in", "Zurück zur Anmeldung";
    LinkNewLinkOrCode => "Ask for a new link or code", "Neuen Link oder Code anfordern";
    LinkSignInNewPassword => "Sign in with your new password", "Mit dem neuen Passwort anmelden";
    LinkAskNewLink => "Ask for a new link", "Neuen Link anfordern";
    LinkSignInWithPassword => "sign in with a password", "mit Passwort anmelden";
    LinkSignInAgain => "Sign in again", "Erneut anmelden";
    LinkStartAgain => "Start again", "Neu beginnen";
    LinkReloadSignIn => "Reload the sign-in page and try again", "Laden Sie die Anmeldeseite neu und versuchen Sie es erneut";
    LinkSetUpApp => "Set up an authenticator app", "Richten Sie eine Authenticator-App ein";
    // Sentences.
    SignedInAs => "You are signed in as {user}.", "Sie sind angemeldet als {user}.";
    PageNeedsSecondFactor => "This page needs a second factor.", "Diese Seite braucht einen zweiten Faktor.";
    NoSecondFactorYet => "This page needs a second factor and your account has none yet.", "Diese Seite braucht einen zweiten Faktor, und Ihr Konto hat noch keinen.";
    ThenOpenAgain => "then open the page again.", "und öffnen Sie die Seite dann erneut.";
    NoOneFactorSession => "There is no one-factor session to step up.", "Es gibt keine Sitzung mit einem Faktor, die erweitert werden könnte.";
    CannotStepUp => "Your session cannot be stepped up.", "Ihre Sitzung kann nicht erweitert werden.";
    CodeOnItsWay => "If {identifier} belongs to an account, a code is on its way.", "Wenn {identifier} zu einem Konto gehört, ist ein Code unterwegs.";
    SentToEmail => "We sent a code to your e-mail address.", "Wir haben einen Code an Ihre E-Mail-Adresse gesendet.";
    SentToPhone => "We sent a code to your mobile phone.", "Wir haben einen Code an Ihr Mobiltelefon gesendet.";
    SentToYou => "We sent you a code.", "Wir haben Ihnen einen Code gesendet.";
    FormExpired => "This form has expired or was sent from another site.", "Dieses Formular ist abgelaufen oder wurde von einer anderen Website gesendet.";
    SignInFirst => "Sign in first.", "Melden Sie sich zuerst an.";
    AppProtects => "An authenticator app protects your account.", "Eine Authenticator-App schützt Ihr Konto.";
    AddSecondFactor => "Signed in as {user}. Add a second factor: an app such as FreeOTP or Aegis shows a new code every 30 seconds.", "Angemeldet als {user}. Fügen Sie einen zweiten Faktor hinzu: Eine App wie FreeOTP oder Aegis zeigt alle 30 Sekunden einen neuen Code.";
    QrCodeLabel => "QR code of the authenticator secret", "QR-Code des Authenticator-Schlüssels";
    OrTypeKey => "Or type the key:", "Oder geben Sie den Schlüssel ein:";
    KeepRecoveryCodes => "Keep these recovery codes somewhere safe. Each works once, and they are shown only now.", "Bewahren Sie diese Wiederherstellungscodes sicher auf. Jeder gilt einmal, und sie werden nur jetzt angezeigt.";
    ForgotIntro => "Enter your e-mail address or mobile number. If it belongs to an account, we send you a link (by e-mail) or a code (by SMS).", "Geben Sie Ihre E-Mail-Adresse oder Mobilnummer ein. Wenn sie zu einem Konto gehört, senden wir Ihnen einen Link (per E-Mail) oder einen Code (per SMS).";
    ResetOnItsWay => "If {identifier} belongs to an account, a link (by e-mail) or a code (by SMS) is on its way. Open the link, or enter the code below.", "Wenn {identifier} zu einem Konto gehört, ist ein Link (per E-Mail) oder ein Code (per SMS) unterwegs. Öffnen Sie den Link oder geben Sie den Code unten ein.";
    PasswordChangedText => "Your password was changed and every session of your account was ended.", "Ihr Passwort wurde geändert, und alle Sitzungen Ihres Kontos wurden beendet.";
    LinkIntro => "Enter your e-mail address. If it belongs to an account, we e-mail you a link that signs you in.", "Geben Sie Ihre E-Mail-Adresse ein. Wenn sie zu einem Konto gehört, senden wir Ihnen einen Link, der Sie anmeldet.";
    LinkOnItsWay => "If {email} belongs to an account, a sign-in link is on its way. Open it in this browser.", "Wenn {email} zu einem Konto gehört, ist ein Anmeldelink unterwegs. Öffnen Sie ihn in diesem Browser.";
    PressToSignIn => "Press the button to sign in with the link we e-mailed you.", "Drücken Sie die Schaltfläche, um sich mit dem Link aus der E-Mail anzumelden.";
    Or => "or", "oder";
    // Refusals.
    WrongCredentials => "The identifier or the password is wrong.", "Kennung oder Passwort ist falsch.";
    TooManyAttempts => "Too many attempts. Wait a few minutes and try again.", "Zu viele Versuche. Warten Sie einige Minuten und versuchen Sie es erneut.";
    CodeWrongOrExpired => "The code is wrong or has expired.", "Der Code ist falsch oder abgelaufen.";
    TooManyWrongCodes => "Too many wrong codes. Ask for a new code.", "Zu viele falsche Codes. Fordern Sie einen neuen Code an.";
    SignInUnavailable => "Signing in is not possible right now. Try again shortly.", "Die Anmeldung ist gerade nicht möglich. Versuchen Sie es gleich noch einmal.";
    CodeWrongOrUsed => "The code is wrong or was already used.", "Der Code ist falsch oder wurde schon verwendet.";
    SignInCannotContinue => "This sign-in cannot continue.", "Diese Anmeldung kann nicht fortgesetzt werden.";
    EnterEmailOrMobile => "Enter your e-mail address or mobile number.", "Geben Sie Ihre E-Mail-Adresse oder Mobilnummer ein.";
    TooManyCodes => "Too many codes were asked for. Wait a few minutes and try again.", "Es wurden zu viele Codes angefordert. Warten Sie einige Minuten und versuchen Sie es erneut.";
    CodesUnavailable => "Codes cannot be sent right now. Try again shortly.", "Codes können gerade nicht gesendet werden. Versuchen Sie es gleich noch einmal.";
    TooManyCodesWait => "Too many codes were asked for. Wait a few minutes.", "Es wurden zu viele Codes angefordert. Warten Sie einige Minuten.";
    CodeUnavailableOtherMethod => "A code cannot be sent right now; use another method.", "Ein Code kann gerade nicht gesendet werden; nutzen Sie eine andere Methode.";
    TooManyMessages => "Too many messages were asked for. Wait a few minutes and try again.", "Es wurden zu viele Nachrichten angefordert. Warten Sie einige Minuten und versuchen Sie es erneut.";
    MessagesUnavailable => "Messages cannot be sent right now. Try again shortly.", "Nachrichten können gerade nicht gesendet werden. Versuchen Sie es gleich noch einmal.";
    ResetInvalid => "This reset link or code is not valid: it was used, it expired, or a newer one was sent. Ask for a new one.", "Dieser Link oder Code zum Zurücksetzen ist ungültig: Er wurde verwendet, ist abgelaufen, oder ein neuerer wurde gesendet. Fordern Sie einen neuen an.";
    TooManyWrongCodesNew => "Too many wrong codes. Ask for a new one.", "Zu viele falsche Codes. Fordern Sie einen neuen an.";
    LinkInvalid => "This sign-in link is not valid: it was used, it expired, or a newer one was sent.", "Dieser Anmeldelink ist ungültig: Er wurde verwendet, ist abgelaufen, oder ein neuerer wurde gesendet.";
    NotPossibleNow => "This is not possible right now. Try again shortly.", "Das ist gerade nicht möglich. Versuchen Sie es gleich noch einmal.";
    EnterIdentifierAndPassword => "Enter your identifier and your password.", "Geben Sie Ihre Kennung und Ihr Passwort ein.";
    EnterCodeOrOpenLink => "Enter the code we sent you, or open the link again.", "Geben Sie den gesendeten Code ein oder öffnen Sie den Link erneut.";
    PasswordsDiffer => "The two passwords differ; type the same one twice.", "Die beiden Passwörter unterscheiden sich; geben Sie zweimal dasselbe ein.";
    PasswordRefused => "This password cannot be used:", "Dieses Passwort kann nicht verwendet werden:";
    EnrolAlreadyEnabled => "An authenticator app is already set up.", "Eine Authenticator-App ist bereits eingerichtet.";
    EnrolNotEnabled => "No authenticator app is set up.", "Es ist keine Authenticator-App eingerichtet.";
    EnrolNoPending => "There is no setup to confirm. Start again.", "Es gibt keine Einrichtung zu bestätigen. Beginnen Sie neu.";
    EnrolCodeMismatch => "The code is wrong or was already used.", "Der Code ist falsch oder wurde schon verwendet.";
    EnrolBanned => "Too many failed attempts for this account or from this address; retry later.", "Zu viele Fehlversuche für dieses Konto oder von dieser Adresse; versuchen Sie es später erneut.";
    EnrolUndescribable => "The authenticator could not be described: check that totp.issuer holds no `:`.", "Der Authenticator konnte nicht beschrieben werden: totp.issuer darf kein `:` enthalten.";
    EnrolNeedsTwoFactor => "This needs a session with both factors: complete the second-factor step and retry.", "Dafür ist eine Sitzung mit beiden Faktoren nötig: Schließen Sie den Schritt mit dem zweiten Faktor ab und versuchen Sie es erneut.";
    EnrolNeedsAddressProof => "An administrator's first authenticator needs a sign-in that proved your address: sign in with a code sent to your e-mail or mobile, then set up the authenticator.", "Der erste Authenticator eines Administrators braucht eine Anmeldung, die Ihre Adresse bestätigt hat: Melden Sie sich mit einem Code an, der an Ihre E-Mail-Adresse oder Mobilnummer gesendet wurde, und richten Sie dann den Authenticator ein.";
    EnrolNotAllowed => "This is not allowed for this session.", "Das ist für diese Sitzung nicht erlaubt.";
    Busy => "Too many sign-ins at once; retry in a moment.", "Zu viele Anmeldungen gleichzeitig; versuchen Sie es gleich noch einmal.";
    Support => "Help and support", "Hilfe und Support";
    // Creating an account.
    CreateAccount => "Create account", "Konto erstellen";
    LinkCreateAccount => "Create account", "Konto erstellen";
    LabelName => "Name", "Name";
    LabelUsername => "Username (optional)", "Benutzername (optional)";
    LabelMobile => "Mobile", "Mobilnummer";
    LabelPasswordAgain => "Password again", "Passwort wiederholen";
    ButtonCreateAccount => "Create account", "Konto erstellen";
    RegisterIntro => "We send a code to every address you give, to prove it is yours.", "Wir senden an jede angegebene Adresse einen Code, um zu prüfen, dass sie Ihnen gehört.";
    RegisterCodeSent => "If {address} can be registered, a code is on its way to it.", "Wenn {address} registriert werden kann, ist ein Code dorthin unterwegs.";
    LabelEmailCode => "Code from the e-mail", "Code aus der E-Mail";
    LabelSmsCode => "Code from the SMS", "Code aus der SMS";
    AccountReady => "Your account is ready", "Ihr Konto ist bereit";
    AccountReadyText => "Every address is confirmed.", "Alle Adressen sind bestätigt.";
    LinkSignInNow => "Sign in now", "Jetzt anmelden";
    RegistrationClosed => "This service does not allow creating accounts; ask an administrator.", "Dieser Dienst erlaubt keine Kontoerstellung; wenden Sie sich an eine Administratorin oder einen Administrator.";
    RegisterRefused => "These details cannot be used:", "Diese Angaben können nicht verwendet werden:";
    RegisterNeedsAddress => "Enter an e-mail address or a mobile number.", "Geben Sie eine E-Mail-Adresse oder eine Mobilnummer ein.";
    RegisterTooMany => "Too many registrations. Wait a few minutes and try again.", "Zu viele Registrierungen. Warten Sie einige Minuten und versuchen Sie es erneut.";
    LinkHaveAccount => "I have an account: sign in", "Ich habe ein Konto: anmelden";
    // The account page.
    YourAccount => "Your account", "Ihr Konto";
    AcctSkip => "Skip to content", "Zum Inhalt springen";
    AcctSections => "Sections", "Abschnitte";
    AcctProfile => "Profile", "Profil";
    AcctPassword => "Password", "Passwort";
    AcctFactors => "Second factors", "Zweite Faktoren";
    AcctSessions => "Sessions", "Sitzungen";
    AcctTokens => "Personal API tokens", "Persönliche API-Tokens";
    AcctEvents => "Recent security events", "Letzte Sicherheitsereignisse";
    AcctUnavailable => "Your account cannot be shown right now. Try again shortly.", "Ihr Konto kann gerade nicht angezeigt werden. Versuchen Sie es gleich noch einmal.";
    AcctOpenAgain => "Open your account page again", "Öffnen Sie Ihre Kontoseite erneut";
    AcctNone => "none", "keine";
    AcctVerified => "(verified)", "(bestätigt)";
    AcctNotVerified => "(not verified)", "(nicht bestätigt)";
    AcctName => "Name", "Name";
    AcctUsername => "Username", "Benutzername";
    AcctEmail => "E-mail", "E-Mail";
    AcctMobile => "Mobile", "Mobilnummer";
    AcctCurrentPassword => "Current password", "Aktuelles Passwort";
    AcctPasswordNote => "Changing your password ends your other sessions; this one stays signed in.", "Eine Passwortänderung beendet Ihre anderen Sitzungen; diese bleibt angemeldet.";
    AcctChangePassword => "Change password", "Passwort ändern";
    AcctApp => "Authenticator app:", "Authenticator-App:";
    AcctSetUp => "set up", "eingerichtet";
    AcctNotSetUp => "not set up", "nicht eingerichtet";
    AcctCodesLeft => "Recovery codes left:", "Verbleibende Wiederherstellungscodes:";
    AcctRemoveCode => "Code from your app, to remove it", "Code aus Ihrer App, um sie zu entfernen";
    AcctRemoveApp => "Remove authenticator app", "Authenticator-App entfernen";
    AcctCodesCode => "Code from your app, for new recovery codes", "Code aus Ihrer App, für neue Wiederherstellungscodes";
    AcctMakeCodes => "Make new recovery codes", "Neue Wiederherstellungscodes erstellen";
    AcctNewCodes => "Your new recovery codes, shown only this once.", "Ihre neuen Wiederherstellungscodes, nur dieses eine Mal angezeigt.";
    AcctNewCodesNote => "Copy them somewhere safe now; each works once, and the old ones no longer work.", "Bewahren Sie sie jetzt sicher auf; jeder gilt einmal, und die alten gelten nicht mehr.";
    AcctNoChannel => "none (a verified e-mail address or mobile number is needed)", "keiner (eine bestätigte E-Mail-Adresse oder Mobilnummer ist nötig)";
    AcctChannelEmail => "e-mail", "E-Mail";
    AcctChannelSms => "SMS", "SMS";
    AcctCodeFactor => "A code by message as your second factor:", "Ein Code per Nachricht als Ihr zweiter Faktor:";
    AcctOn => "on", "an";
    AcctOnNote => ": every sign-in asks for a second factor", ": Jede Anmeldung fragt nach einem zweiten Faktor";
    AcctOff => "off", "aus";
    AcctReachBy => "Codes can reach you by:", "Codes erreichen Sie per:";
    AcctStopCodes => "Stop using codes by message", "Codes per Nachricht nicht mehr verwenden";
    AcctUseCodes => "Use a code by message as my second factor", "Einen Code per Nachricht als meinen zweiten Faktor verwenden";
    AcctUnknown => "unknown", "unbekannt";
    AcctThisSession => "This session", "Diese Sitzung";
    AcctEndSessionOf => "End the session of {device} from {ip}", "Die Sitzung von {device} aus {ip} beenden";
    AcctUnknownAddress => "an unknown address", "einer unbekannten Adresse";
    AcctEndSession => "End session", "Sitzung beenden";
    AcctEndOthers => "End all other sessions", "Alle anderen Sitzungen beenden";
    AcctNoOthers => "You have no other sessions.", "Sie haben keine anderen Sitzungen.";
    AcctWhereSignedIn => "Where you are signed in", "Wo Sie angemeldet sind";
    AcctCreated => "Created", "Erstellt";
    AcctLastSeen => "Last seen", "Zuletzt gesehen";
    AcctIp => "IP", "IP";
    AcctDevice => "Device", "Gerät";
    AcctCurrentOrEnd => "Current or end", "Aktuell oder beenden";
    AcctNewToken => "Your new token “{name}”, shown only this once.", "Ihr neues Token „{name}“, nur dieses eine Mal angezeigt.";
    AcctNewTokenNote => "Copy it now (select it and press Ctrl+C or ⌘C) and keep it secret.", "Kopieren Sie es jetzt (markieren und Strg+C oder ⌘C drücken) und halten Sie es geheim.";
    AcctNewTokenLabel => "New token", "Neues Token";
    AcctRevokeToken => "Revoke the token {name}", "Das Token {name} widerrufen";
    AcctRevoke => "Revoke", "Widerrufen";
    AcctNever => "never", "nie";
    AcctNoTokens => "You have no personal API tokens.", "Sie haben keine persönlichen API-Tokens.";
    AcctYourTokens => "Your tokens", "Ihre Tokens";
    AcctScopes => "Scopes", "Berechtigungen";
    AcctExpires => "Expires", "Läuft ab";
    AcctLastUsed => "Last used", "Zuletzt verwendet";
    AcctScopesLegend => "Scopes (none ticked: every scope you hold)", "Berechtigungen (keine angekreuzt: alle, die Sie haben)";
    AcctDays => "Expires after (days)", "Läuft ab nach (Tagen)";
    AcctDaysDefault => "the default", "die Vorgabe";
    AcctCreateToken => "Create token", "Token erstellen";
    AcctNoEvents => "No recent events.", "Keine neuen Ereignisse.";
    AcctNewestFirst => "The newest first", "Die neuesten zuerst";
    AcctWhen => "When", "Wann";
    AcctWhat => "What", "Was";
    // The account page's notices and refusals.
    DonePasswordChanged => "Your password was changed. Your other sessions have ended.", "Ihr Passwort wurde geändert. Ihre anderen Sitzungen wurden beendet.";
    DoneSessionEnded => "The session was ended.", "Die Sitzung wurde beendet.";
    DoneOtherSessionsEnded => "Your other sessions were ended.", "Ihre anderen Sitzungen wurden beendet.";
    DoneTokenRevoked => "The token was revoked.", "Das Token wurde widerrufen.";
    DoneTotpRemoved => "Your authenticator app and recovery codes were removed.", "Ihre Authenticator-App und Ihre Wiederherstellungscodes wurden entfernt.";
    DoneCodeFactorOn => "Every sign-in now asks for a code by message as a second factor.", "Jede Anmeldung fragt jetzt nach einem Code per Nachricht als zweitem Faktor.";
    DoneCodeFactorOff => "Codes by message are no longer your second factor.", "Codes per Nachricht sind nicht mehr Ihr zweiter Faktor.";
    AcctEnterCurrent => "Enter your current password.", "Geben Sie Ihr aktuelles Passwort ein.";
    AcctWholeDays => "Give the lifetime as a whole number of days.", "Geben Sie die Gültigkeit als ganze Zahl von Tagen an.";
    AcctWrongPassword => "The current password is wrong.", "Das aktuelle Passwort ist falsch.";
    AcctScopeNotHeld => "You do not hold the scope `{scope}`: ask only for scopes you hold.", "Sie haben die Berechtigung `{scope}` nicht: Fordern Sie nur Berechtigungen an, die Sie haben.";
    AcctTooManyTokens => "You hold {max} personal tokens, the most allowed: revoke one first.", "Sie haben {max} persönliche Tokens, die Höchstzahl: Widerrufen Sie zuerst eines.";
    AcctNoSuch => "You have no such session or token.", "Sie haben keine solche Sitzung und kein solches Token.";
    // Recent security events.
    EvLoginOk => "Signed in", "Angemeldet";
    EvLoginFailed => "Sign-in failed", "Anmeldung fehlgeschlagen";
    EvMfaFailed => "Second factor failed", "Zweiter Faktor fehlgeschlagen";
    EvBan => "Locked after failed attempts", "Nach Fehlversuchen gesperrt";
    EvLogout => "Signed out", "Abgemeldet";
    EvRefreshReuse => "A refresh token was reused; its sessions ended", "Ein Refresh-Token wurde wiederverwendet; seine Sitzungen wurden beendet";
    EvTotpEnabled => "Authenticator app set up", "Authenticator-App eingerichtet";
    EvTotpRemoved => "Authenticator app removed", "Authenticator-App entfernt";
    EvCodesRegenerated => "New recovery codes made", "Neue Wiederherstellungscodes erstellt";
    EvMfaReset => "Second factors reset by an administrator", "Zweite Faktoren von einer Administratorin oder einem Administrator zurückgesetzt";
    EvSessionsRevoked => "Sessions ended by an administrator", "Sitzungen von einer Administratorin oder einem Administrator beendet";
    EvResetRequested => "Password reset asked for", "Zurücksetzen des Passworts angefordert";
    EvPasswordReset => "Password reset", "Passwort zurückgesetzt";
    EvPasswordChanged => "Password changed", "Passwort geändert";
    EvPasswordChangeFailed => "Password change refused", "Passwortänderung abgelehnt";
    EvSessionEnded => "Session ended", "Sitzung beendet";
    EvOtherSessionsEnded => "Other sessions ended", "Andere Sitzungen beendet";
    EvTokenCreated => "Personal token created", "Persönliches Token erstellt";
    EvTokenRevoked => "Personal token revoked", "Persönliches Token widerrufen";
    EvUserDisabled => "Account disabled", "Konto deaktiviert";
    EvUserEnabled => "Account enabled", "Konto aktiviert";
    EvUserRegistered => "Account created", "Konto erstellt";
    EvMfaByCodeChanged => "Code by message as second factor turned on or off", "Code per Nachricht als zweiter Faktor ein- oder ausgeschaltet";
}

impl M {
    /// The text in `lang`, with `{name}` replaced by `value` (the caller escapes both for HTML).
    pub fn with(self, lang: Lang, name: &str, value: &str) -> String {
        self.text(lang).replace(&format!("{{{name}}}"), value)
    }
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
