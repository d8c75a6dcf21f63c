"""Recognise a buyer opting out ("STOP", "unsubscribe", "baja", "отписаться", "退订", ...) in many languages.

A message opts out when, after case folding and trimming punctuation and polite filler, it is
one of the phrases below. Whole-message matching on purpose: "stop by our booth" or "the baja
price" must not silence a buyer, while a bare "STOP" (what Twilio and carriers teach people) or
"please unsubscribe me" must.
"""

from __future__ import annotations

import re
import unicodedata

# Normalised phrases (lower case, single spaces, no punctuation), by language.
PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("stop", "stop all", "stopall", "unsubscribe", "unsubscribe me", "opt out", "optout", "remove me",
           "stop messaging me", "stop sending messages", "do not contact me", "don't contact me", "no more messages"),
    "es": ("baja", "darme de baja", "dar de baja", "dame de baja", "cancelar suscripción", "cancelar suscripcion",
           "no más mensajes", "no mas mensajes", "no me escriba más", "no me escriban más"),
    "pt": ("sair da lista", "cancelar inscrição", "cancelar inscricao", "descadastrar", "não quero mais mensagens"),
    "fr": ("désabonner", "desabonner", "me désabonner", "me desabonner", "désinscrire", "me désinscrire",
           "désabonnement", "arrêt", "arret", "stop svp"),
    "de": ("abmelden", "abbestellen", "abmeldung", "keine nachrichten mehr", "stopp"),
    "it": ("cancellami", "disiscrivimi", "annulla iscrizione", "basta messaggi"),
    "nl": ("afmelden", "uitschrijven"),
    "tr": ("abonelikten çık", "abonelikten cik", "mesaj istemiyorum"),
    "ru": ("отписаться", "отписка", "стоп", "отпишите меня", "не пишите мне"),
    "uk": ("відписатися", "стоп"),
    "pl": ("wypisz", "wypisz mnie", "rezygnuję z wiadomości"),
    "zh": ("退订", "取消订阅", "退订消息", "不要再发了"),
    "ja": ("配信停止", "登録解除"),
    "ko": ("수신거부", "구독 취소"),
    "ar": ("إلغاء الاشتراك", "الغاء الاشتراك", "أوقف الرسائل", "لا ترسل لي"),
    "fa": ("لغو اشتراک",),
    "hi": ("सदस्यता रद्द करें", "मैसेज बंद करो"),
    "id": ("berhenti berlangganan",),
    "vi": ("hủy đăng ký", "huy dang ky"),
    "th": ("ยกเลิกการสมัคร", "เลิกรับข่าวสาร"),
}
# Filler that may surround the phrase: "please unsubscribe me", "STOP!!", "baja por favor".
_FILLER = {"please", "pls", "plz", "por", "favor", "bitte", "svp", "s", "il", "vous", "plaît", "plait",
           "пожалуйста", "请", "谢谢", "من فضلك", "lütfen", "per", "piacere", "thanks", "thank", "you",
           "gracias", "danke", "merci", "спасибо", "obrigado"}
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(part for part in _PUNCT.sub(" ", text).split() if part)


_INDEX: dict[str, str] = {}
for _lang, _phrases in PHRASES.items():
    for _phrase in _phrases:
        _INDEX.setdefault(_normalise(_phrase), _lang)


def opt_out_phrase(text: str) -> str | None:
    """The phrase that makes `text` an opt-out, or None. Case, punctuation and politeness are ignored."""
    if not text or len(text) > 80:  # an opt-out is short; a long message is a conversation
        return None
    norm = _normalise(text)
    if not norm:
        return None
    if norm in _INDEX:
        return norm
    words = norm.split()
    core = [w for w in words if w not in _FILLER]
    joined = " ".join(core)
    if joined in _INDEX:
        return joined
    # Scripts without spaces (退订 谢谢 -> "退订谢谢"): strip known filler from the ends.
    for filler in sorted(_FILLER, key=len, reverse=True):
        for candidate in (norm.removesuffix(filler).strip(), norm.removeprefix(filler).strip()):
            if candidate != norm and candidate in _INDEX:
                return candidate
    return None


def normalise_phrases() -> set[str]:
    """Every phrase as matched (for tests and docs)."""
    return set(_INDEX)
