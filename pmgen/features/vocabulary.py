"""The default CLIP word vocabulary: whole English words from open_clip's bundled BPE merges."""

from __future__ import annotations

import gzip
from functools import lru_cache

DEFAULT_VOCABULARY_SIZE = 4000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words and chat filler: they describe no image.
STOP_WORDS = _words(
    """
    about above after again against all also although among and another any anyone are
    around because been before being below between both but came can cannot come comes
    coming could did does doing done down during each either even ever every few for from
    further get gets getting going gone good got great had has have having her here hers
    herself him himself his how however into its itself just know let lets like made make
    makes many may might more most much must myself need neither never new next nor not
    now off once one ones only onto other others our ours ourselves out over own per please
    really said same saw say says see seen shall she should since some still such take
    than thank thanks that the their theirs them themselves then there these they thing
    things this those though through thus today together tomorrow tonight too took under
    until upon very via want wants was way well went were what when where whether which
    while who whom why will with within without would yes yet you your yours yourself
    yourselves yesterday okay yeah lol omg gonna wanna gotta dont didn doesn isn wasn
    aren couldn wouldn haven hey haha hahaha lmao
    """
)

# Frequent BPE pieces that end words but are not words themselves ("ing", "ation").
FRAGMENTS = _words(
    """
    ing ings ting ding ning ping ving ying ling ching shing ering uring aring iting ating
    ining ening oning aling iling elling illing alling oring inging cing ging zing sting
    ers ter ters der ders ler lers ker kers ger gers ster sters tor tors ors ator ators ner
    ners rer yer yers mer mers cher chers iner iler ller aker akers eller ier
    ent ents ment ments dent dents ance ances ence ences ience rence ency ancy
    ation ations tion tions sion sions ition itions ction zation fication ination tation
    stration ption vention
    ity ities ility ilities ality ety sity ority
    ous ious eous icious ulous geous erous rious
    ful iness ness
    ally ically ily ely tly vely ously rely dly ately antly ingly itely
    ble bility ability
    ical ial cial tial ual onal tional ational ental ential ital alian ican ician
    tive ative itive sive ssive
    ure ture tures ures
    ary ory ery ories aries
    ism ist ists ian ians alist alists alism
    ise ised ising zed zes ized
    ated ates ited ted ded ked sed ned ped pped ssed sted cted ored ured ired illed iled
    aled ented tered tured vered dered gged cked fted amed aged oned ened ained
    ies ses ces des les nes tes ves kes mes pes ges ues ils els ams ants ards ars ats
    ers ins ons ens ics tics stics ints ites ties ries sses bles ates ages ures ines
    ic tic stic phic
    ere ver ack ood ard ame ays ite ong ound ounds ould ase ight ool res als ach ile ough
    ort ats mber ley ick ason ich ket kets ast oud dge ina ana ral ore ney ire tball ween
    ple ath logy gan ama ken atest ith til ston tty ada tain ches ual ade ille ville ole
    thers ory alls ris del illion ined gest ement fic tal ague ury ming ssing ington ece
    ain ols stry sen sey ese ign asy lish acy sia yer ril lin ghter pper agram ior shes
    ello dit ues cle gic ren ape ash rently ond tta atic kin tage ste ona ino nel ang cus
    enge sta gress ird ser utes fied ems ita gle ership dium anda gue sty tober ony ald
    ado versary aks iller ella shire wer cil vil dition ghting anta ange ico illa ane ops
    ami tte cky kie nia nal tice vement ute thern splay dle yed gen gers ges tro sha ara
    dia dence ola ala ena gger burg nie aming inger stance bel ura ini ani lier bes arly
    ria ckey duce ion ari onic zer verage icks ero ases nis ela mal bby asure bia acks ppy
    vey nament senting lywood gie stin chi sions mony ssions edy ount asing tery asons
    tural ingham lah ung aging tical ila ato ult cement kins lows theday bly mentary mond
    ature ditions tup fication sher ison itor nings ology itely tract oned tha tress cker
    timate mble cling akes elle urs ric tual cking ledge ysis vity graphy ular gin ghted
    gging kies itude dden tho attle tary itation anced vels cho ises ette ppers rel hai
    sas tti wich gency rie mbers dges dings pical acking unk alty fted iser atives enty eld
    sie gos tware aces eding ots ake ades ree tle ome ghty ater eces aya atory bble uro eth
    ando lum ject oner dering ids mely unes icial thes ima ians ence ssion ven lar vers
    ight ghts ually ited inst cess ward wards ise ience val ber est ine ther ans ish ved sic
    vel int dio unch aking ather ills versity cer ices eds ased ched ced mance ells alia ica
    ano ror fer ently sus ghtful theast tionary sely rett lem caster xon ables quet tedly
    rences stest olds ums orial ento mies tum ario gia aps itable thon zie ilers iders
    lington uki ingo intment
    """
)

# Consonant pairs an English word may start with; BPE pieces starting with any other
# pair ("tting", "ssion", "nds") are word endings.
_ONSET_PAIRS = _words(
    "bl br ch cl cr dr dw fl fr gh gl gn gr kh kn ph pl pr ps qu rh sc sh sk sl sm sn sp "
    "sq st sw th tr tw wh wr"
)
_VOWELS = frozenset("aeiouy")


def _looks_like_word(token: str, min_length: int) -> bool:
    if len(token) < min_length or not token.isascii() or not token.isalpha():
        return False
    if token in STOP_WORDS or token in FRAGMENTS:
        return False
    if not _VOWELS.intersection(token):
        return False
    starts_with_two_consonants = token[0] not in _VOWELS and token[1] not in _VOWELS
    return not starts_with_two_consonants or token[:2] in _ONSET_PAIRS


@lru_cache(maxsize=8)
def clip_word_vocabulary(
    size: int = DEFAULT_VOCABULARY_SIZE, min_length: int = 3
) -> tuple[str, ...]:
    """The first ``size`` whole words of CLIP's BPE vocabulary by merge rank (frequent first).

    A merge whose right part ends a word (``</w>``) makes a whole-word token; tokens
    that are not alphabetic, shorter than ``min_length``, stop words or common word
    endings ("ing", "ation") are left out. The file ships inside the open_clip wheel.
    """
    from open_clip.tokenizer import default_bpe

    with gzip.open(default_bpe(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    # Same slice as open_clip's tokenizer: skip the version line, keep the merges it uses.
    merges = lines[1 : 49152 - 256 - 2 + 1]
    words: list[str] = []
    seen: set[str] = set()
    for line in merges:
        parts = line.split()
        if len(parts) != 2 or not parts[1].endswith("</w>"):
            continue
        token = (parts[0] + parts[1])[: -len("</w>")]
        if token in seen or not _looks_like_word(token, min_length):
            continue
        seen.add(token)
        words.append(token)
        if len(words) >= size:
            break
    return tuple(words)
