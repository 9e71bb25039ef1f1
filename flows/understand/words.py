"""Word lists (data, not code) for every shipped language: en, hi, ta.

Extend a list to teach the bot a new word; every entry is matched after
`normalize()` (case-folded, punctuation trimmed, native digits turned ASCII).
"""

from __future__ import annotations

from typing import Final

# Global commands, matched only when the whole message is the word (so "book for
# my mother" never triggers "book", and "menu please" still does via GLOBAL_PHRASES).
GLOBAL_COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "menu": ("menu", "main menu", "home", "start over", "restart", "hi", "hello", "hey",
             "मेनू", "मेन्यू", "मुख्य मेनू", "नमस्ते", "மெனு", "முதன்மை மெனு", "வணக்கம்"),
    "back": ("back", "go back", "previous", "पीछे", "वापस", "பின்", "பின்னால்", "திரும்ப"),
    "help": ("help", "?", "मदद", "सहायता", "உதவி"),
    "human": ("human", "agent", "person", "staff", "receptionist", "talk to a person",
              "talk to human", "real person", "operator", "इंसान", "एजेंट", "व्यक्ति",
              "किसी से बात", "மனிதர்", "முகவர்", "ஊழியர்"),
    "language": ("language", "change language", "lang", "भाषा", "மொழி"),
    "stop": ("stop", "unsubscribe", "opt out", "बंद", "रोकें", "நிறுத்து"),
    "start": ("start", "unstop", "subscribe", "शुरू", "தொடங்கு"),
}
# More ways to say each command in hi/ta (and romanized), merged into GLOBAL_COMMANDS below.
_MORE_COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "menu": ("மெனு", "मेनु", "menu dikhao", "मेनू दिखाओ", "मुख्य सूची", "முதல் பக்கம்", "பட்டியல்"),
    "back": ("वापस जाएँ", "वापस जाओ", "पीछे जाएँ", "wapas", "peeche", "பின்னே", "பின் செல்"),
    "help": ("मदद चाहिए", "madad", "help chahiye", "உதவி வேண்டும்", "udhavi"),
    "human": ("इंसान से बात", "किसी व्यक्ति से बात", "कर्मचारी", "रिसेप्शन", "रिसेप्शनिस्ट",
              "मनुष्य", "மனிதரிடம் பேச", "ஊழியரிடம் பேச", "வரவேற்பாளர்", "ஆளிடம் பேச"),
    "language": ("भाषा बदलें", "भाषा बदलो", "bhasha", "மொழியை மாற்று", "mozhi"),
    "stop": ("बंद करो", "बंद करें", "संदेश बंद", "நிறுத்துங்கள்", "செய்திகள் வேண்டாம்"),
    "start": ("शुरू करें", "शुरू करो", "फिर से शुरू", "ஆரம்பி", "தொடங்குங்கள்", "மீண்டும் தொடங்கு"),
}
for _name, _words in _MORE_COMMANDS.items():
    GLOBAL_COMMANDS[_name] = GLOBAL_COMMANDS[_name] + tuple(w for w in _words if w not in GLOBAL_COMMANDS[_name])

# On SMS these exact words are carrier/Twilio opt-outs (and opt-ins): they always
# mean stop/start there, whatever state the conversation is in.
SMS_OPT_OUT_WORDS: Final[tuple[str, ...]] = (
    "stop", "cancel", "end", "quit", "unsubscribe", "stopall", "revoke", "optout",
)
SMS_OPT_IN_WORDS: Final[tuple[str, ...]] = ("start", "unstop", "yes")

YES_WORDS: Final[tuple[str, ...]] = (
    "yes", "y", "yeah", "yep", "ok", "okay", "sure", "confirm", "correct", "right", "fine",
    "हाँ", "हां", "हा", "जी", "जी हाँ", "ठीक है", "ठीक", "haan", "ha", "han",
    "ஆம்", "ஆமா", "சரி", "aam", "sari",
    "हाँ जी", "जी हां", "जी हाँ जी", "ज़रूर", "जरूर", "बिल्कुल", "हम्म", "theek hai", "ji haan",
    "ஆமாம்", "ஆமாங்க", "சரிங்க", "சரி தான்", "ஓகே", "ஓக்கே", "aamam", "seri",
)
NO_WORDS: Final[tuple[str, ...]] = (
    "no", "n", "nope", "nah", "not now", "don't", "dont",
    "नहीं", "नही", "ना", "nahi", "nahin",
    "இல்லை", "வேண்டாம்", "illai", "venam",
    "नहीं जी", "जी नहीं", "नहीं चाहिए", "मत करो", "nahi chahiye",
    "இல்ல", "வேணாம்", "வேண்டாங்க", "இல்லைங்க", "vendam",
)
MORE_WORDS: Final[tuple[str, ...]] = ("more", "next", "more times", "और", "மேலும்")

# Relative days: word -> days from today.
RELATIVE_DAYS: Final[dict[str, int]] = {
    "today": 0, "tonight": 0, "tod": 0, "now": 0,
    "tomorrow": 1, "tmrw": 1, "tmr": 1, "tomorow": 1, "tommorow": 1, "tommorrow": 1,
    "day after tomorrow": 2, "day after": 2,
    "आज": 0, "कल": 1, "परसों": 2, "aaj": 0, "kal": 1, "parso": 2, "parson": 2,
    "இன்று": 0, "இன்னைக்கு": 0, "நாளை": 1, "நாளைக்கு": 1, "நாளை மறுநாள்": 2,
    "indru": 0, "naalai": 1, "nalai": 1,
    "परसो": 2, "आज ही": 0, "कल ही": 1, "aaj hi": 0,
    "இன்னிக்கு": 0, "நாளைக்கே": 1, "நாளன்னைக்கு": 2, "நாளை மறுதினம்": 2, "நாளைமறுநாள்": 2,
}
NEXT_WEEK_WORDS: Final[tuple[str, ...]] = (
    "next week", "अगले हफ्ते", "अगले सप्ताह", "अगला हफ्ता", "அடுத்த வாரம்",
)
WEEKDAYS: Final[dict[str, int]] = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
    "सोमवार": 0, "मंगलवार": 1, "बुधवार": 2, "गुरुवार": 3, "शुक्रवार": 4, "शनिवार": 5, "रविवार": 6,
    "திங்கள்": 0, "செவ்வாய்": 1, "புதன்": 2, "வியாழன்": 3, "வெள்ளி": 4, "சனி": 5, "ஞாயிறு": 6,
    # Babel's own abbreviations (the bot shows them in day lists, patients echo them back).
    "सोम": 0, "मंगल": 1, "बुध": 2, "गुरु": 3, "शुक्र": 4, "शनि": 5, "रवि": 6, "इतवार": 6,
    "somvar": 0, "mangalvar": 1, "budhvar": 2, "guruvar": 3, "shukravar": 4, "shanivar": 5,
    "ravivar": 6, "itvaar": 6,
    "திங்": 0, "செவ்": 1, "புத": 2, "வியா": 3, "வெள்": 4, "ஞாயி": 6,
    "திங்கட்கிழமை": 0, "செவ்வாய்க்கிழமை": 1, "புதன்கிழமை": 2, "வியாழக்கிழமை": 3,
    "வெள்ளிக்கிழமை": 4, "சனிக்கிழமை": 5, "ஞாயிற்றுக்கிழமை": 6,
}
MONTHS: Final[dict[str, int]] = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11,
    "november": 11, "dec": 12, "december": 12,
    "जनवरी": 1, "फरवरी": 2, "मार्च": 3, "अप्रैल": 4, "मई": 5, "जून": 6, "जुलाई": 7,
    "अगस्त": 8, "सितंबर": 9, "अक्टूबर": 10, "नवंबर": 11, "दिसंबर": 12,
    "ஜனவரி": 1, "பிப்ரவரி": 2, "மார்ச்": 3, "ஏப்ரல்": 4, "மே": 5, "ஜூன்": 6, "ஜூலை": 7,
    "ஆகஸ்ட்": 8, "செப்டம்பர்": 9, "அக்டோபர்": 10, "நவம்பர்": 11, "டிசம்பர்": 12,
    "फ़रवरी": 2, "सितम्बर": 9, "अक्तूबर": 10, "नवम्बर": 11, "दिसम्बर": 12,
    "जन॰": 1, "फ़र॰": 2, "जुल॰": 7, "अग॰": 8, "सित॰": 9, "अक्टू॰": 10, "नव॰": 11, "दिस॰": 12,
    "जन": 1, "फ़र": 2, "जुल": 7, "अग": 8, "सित": 9, "अक्टू": 10, "दिस": 12,
    "ஜன": 1, "பிப்": 2, "மார்": 3, "ஏப்": 4, "ஆக": 8, "செப்": 9, "அக்": 10, "நவ": 11, "டிச": 12,
}
PART_OF_DAY_WORDS: Final[dict[str, str]] = {
    "morning": "morning", "am": "morning", "early": "morning",
    "afternoon": "afternoon", "noon": "afternoon", "lunch": "afternoon",
    "evening": "evening", "night": "evening", "after work": "evening", "pm": "afternoon",
    "सुबह": "morning", "दोपहर": "afternoon", "शाम": "evening", "रात": "evening",
    "காலை": "morning", "மதியம்": "afternoon", "மாலை": "evening", "இரவு": "evening",
    "सवेरे": "morning", "सुबह को": "morning", "दोपहर को": "afternoon", "शाम को": "evening",
    "subah": "morning", "dopahar": "afternoon", "shaam": "evening", "sham": "evening",
    "காலையில்": "morning", "பிற்பகல்": "afternoon", "மதியத்தில்": "afternoon",
    "மாலையில்": "evening", "சாயங்காலம்": "evening", "சாயந்திரம்": "evening",
}
AFTER_WORDS: Final[tuple[str, ...]] = ("after", "from", "बाद", "के बाद", "பிறகு", "மேல்")
BEFORE_WORDS: Final[tuple[str, ...]] = ("before", "by", "पहले", "முன்")

# Lay words -> canonical specialty slug (the booking core's slugs).
SPECIALTY_SYNONYMS: Final[dict[str, str]] = {
    "skin": "dermatology", "skin doc": "dermatology", "skin doctor": "dermatology",
    "derma": "dermatology", "dermatologist": "dermatology", "rash": "dermatology",
    "acne": "dermatology", "hair": "dermatology", "त्वचा": "dermatology", "चमड़ी": "dermatology",
    "தோல்": "dermatology",
    "heart": "cardiology", "cardio": "cardiology", "cardiologist": "cardiology",
    "heart doctor": "cardiology", "दिल": "cardiology", "हृदय": "cardiology", "இதயம்": "cardiology",
    "child": "pediatrics", "children": "pediatrics", "kids": "pediatrics", "baby": "pediatrics",
    "paediatrics": "pediatrics", "pediatrician": "pediatrics", "paediatrician": "pediatrics",
    "बच्चे": "pediatrics", "बच्चों": "pediatrics", "குழந்தை": "pediatrics",
    "bones": "orthopedics", "bone": "orthopedics", "joint": "orthopedics", "knee": "orthopedics",
    "ortho": "orthopedics", "orthopaedics": "orthopedics", "हड्डी": "orthopedics", "எலும்பு": "orthopedics",
    "teeth": "dentistry", "tooth": "dentistry", "dentist": "dentistry", "dental": "dentistry",
    "दांत": "dentistry", "பல்": "dentistry",
    "eye": "ophthalmology", "eyes": "ophthalmology", "eye doctor": "ophthalmology",
    "आंख": "ophthalmology", "आँख": "ophthalmology", "கண்": "ophthalmology",
    "women": "gynecology", "gyn": "gynecology", "gynaec": "gynecology", "gynaecology": "gynecology",
    "pregnancy": "gynecology", "ent": "ent", "ear": "ent", "nose": "ent", "throat": "ent",
    "general": "general_medicine", "gp": "general_medicine", "physician": "general_medicine",
    "fever": "general_medicine", "cold": "general_medicine", "family doctor": "general_medicine",
    "बुखार": "general_medicine", "காய்ச்சல்": "general_medicine",
    # Hindi and Tamil names and lay words for every slug.
    "चर्म": "dermatology", "चर्म रोग": "dermatology", "खुजली": "dermatology", "मुंहासे": "dermatology",
    "தோல் மருத்துவர்": "dermatology", "அரிப்பு": "dermatology", "முகப்பரு": "dermatology",
    "दिल का डॉक्टर": "cardiology", "हार्ट": "cardiology", "இருதயம்": "cardiology", "இதய": "cardiology",
    "बच्चा": "pediatrics", "बाल रोग": "pediatrics", "शिशु": "pediatrics",
    "குழந்தைகள்": "pediatrics", "குழந்தை மருத்துவர்": "pediatrics",
    "हड्डियों": "orthopedics", "जोड़": "orthopedics", "घुटना": "orthopedics", "ऑर्थो": "orthopedics",
    "மூட்டு": "orthopedics", "முழங்கால்": "orthopedics", "எலும்பு மருத்துவர்": "orthopedics",
    "दाँत": "dentistry", "दंत": "dentistry", "डेंटिस्ट": "dentistry",
    "பற்கள்": "dentistry", "பல் மருத்துவர்": "dentistry",
    "स्त्री रोग": "gynecology", "गर्भावस्था": "gynecology", "प्रसूति": "gynecology", "महिला डॉक्टर": "gynecology",
    "மகப்பேறு": "gynecology", "கர்ப்பம்": "gynecology", "பெண்கள் மருத்துவர்": "gynecology",
    "gynecologist": "gynecology", "gynaecologist": "gynecology",
    "कान": "ent", "नाक": "ent", "गला": "ent", "नाक कान गला": "ent",
    "காது": "ent", "மூக்கு": "ent", "தொண்டை": "ent",
    "सामान्य": "general_medicine", "जनरल": "general_medicine", "सर्दी": "general_medicine",
    "खांसी": "general_medicine", "पेट": "general_medicine",
    "பொது": "general_medicine", "பொது மருத்துவம்": "general_medicine", "சளி": "general_medicine",
    "இருமல்": "general_medicine",
}

# Words around a doctor's name that carry no identity ("dr mehta", "doctor sharma ji").
DOCTOR_NOISE_WORDS: Final[tuple[str, ...]] = (
    "dr", "dr.", "doctor", "doc", "ji", "sir", "madam", "mam", "with", "see", "book",
    "appointment", "डॉ", "डॉक्टर", "டாக்டர்", "மருத்துவர்",
)

RELATIONS: Final[dict[str, str]] = {
    "child": "child", "son": "child", "daughter": "child", "kid": "child",
    "बेटा": "child", "बेटी": "child", "மகன்": "child", "மகள்": "child",
    "parent": "parent", "mother": "parent", "father": "parent", "mom": "parent", "dad": "parent",
    "माँ": "parent", "मां": "parent", "पिता": "parent", "அம்மா": "parent", "அப்பா": "parent",
    "spouse": "spouse", "wife": "spouse", "husband": "spouse", "पत्नी": "spouse", "पति": "spouse",
    "மனைவி": "spouse", "கணவர்": "spouse", "other": "other",
}


# Language names as patients type them, in every script ("hindi", "हिंदी", "தமிழ்" …):
# typing one switches the conversation's language.
LANGUAGE_NAME_WORDS: Final[dict[str, str]] = {
    "english": "en", "angrezi": "en", "angreji": "en", "eng": "en", "अंग्रेज़ी": "en", "अंग्रेजी": "en",
    "इंग्लिश": "en", "ஆங்கிலம்": "en", "இங்கிலீஷ்": "en",
    "hindi": "hi", "hindhi": "hi", "हिंदी": "hi", "हिन्दी": "hi", "ஹிந்தி": "hi", "இந்தி": "hi",
    "tamil": "ta", "thamizh": "ta", "tamizh": "ta", "தமிழ்": "ta", "तमिल": "ta",
}
