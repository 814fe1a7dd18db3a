"""Generated detection corpus: CSV files in 27 languages (and mixes of the Western, Central European and
Baltic ones, as in a customer list of a multinational firm), each written in the legacy code pages its
speakers use, at fixed byte sizes. Shared by tests/test_detection_corpus.py and
bench/detection_scoreboard.py so the scoreboard and the test measure the same files.

Every language has names, place names and free-text phrases written in its own orthography; a file is
rows of ASCII ids, codes, dates and amounts around those fields, drawn with a seeded RNG. Items a code
page cannot write (ISO-8859-1 has no € or œ, KOI8-R no Ukrainian і) are left out of that code page's
files, so each file is exactly the text it was generated from."""

# The word lists are real text in each language.
# ruff: noqa: E501

from __future__ import annotations

import random
from dataclasses import dataclass

SIZES = (200, 1024, 10 * 1024, 64 * 1024)


@dataclass(frozen=True)
class Language:
    group: str
    codecs: tuple[str, ...]
    currency: str
    names: str
    places: str
    phrases: str


WESTERN = ("cp1252", "iso8859-1", "iso8859-15")
CENTRAL = ("cp1250", "iso8859-2")

LANGUAGES: dict[str, Language] = {
    "pt": Language(
        "western",
        WESTERN,
        "€",
        "João Gonçalves|Conceição Araújo|Sebastião Simões|Inês Magalhães|Estêvão Brandão|Luís Guimarães|Gonçalo Antunes|Lúcia Falcão|Joana Assunção|António Pereira",
        "São Paulo|Évora|Setúbal|Guimarães|Póvoa de Varzim|Ponta Delgada|Olhão|Brasília|Maceió|Belém|Viseu|Bragança",
        "a ação do coração|não há solução|entrega na próxima semana|informação útil para o cliente|o órfão e a mãe|três irmãos em Lisboa|a canção do mês|você já viu o avô?|pão e açúcar|o último pôr do sol|caminhões na estrada|pagamento em atraso|revisão do contrato|endereço de correspondência|observações: sem alterações",
    ),
    "es": Language(
        "western",
        WESTERN,
        "€",
        "José Martínez|María Núñez|Begoña Ibáñez|Ramón Peña|Iñaki Muñoz|Sofía Gómez|Andrés Sánchez|Lucía Fernández|Ángel Rodríguez|Óscar Jiménez",
        "Málaga|Cádiz|León|Córdoba|A Coruña|Logroño|Ávila|Jaén|Almería|Cáceres|Alcalá de Henares|Castellón",
        "el niño y la niña|mañana por la mañana|¿dónde está la estación?|¡qué día más bonito!|la canción del corazón|el señor de la montaña|año nuevo, vida nueva|envío pendiente de confirmación|el último camión|pingüino en la nieve|más allá del río|la información útil|cliente habitual, pago en efectivo|revisión técnica anual",
    ),
    "fr": Language(
        "western",
        WESTERN,
        "€",
        "François Lefèvre|Hélène Dupré|Zoë Müller|Jérôme Bénard|Cécile Noël|Anaïs Gérard|Benoît Rivière|Maël Carré|Léa Thébault|Gaëlle Fénelon",
        "Besançon|Orléans|Nîmes|Béziers|Saint-Étienne|Angoulême|Montréal|Évreux|Châlons|Sète|Périgueux|Québec",
        "le cœur a ses raisons|une œuvre célèbre à Paris|l'été dernier près de la forêt|où est la gare ?|déjà vu, très français|la fenêtre du château|un garçon rêveur et sa sœur|être ou ne pas être|les élèves étudient à l'école|ça coûte 12 € à peine|naïf et maïs|un hôtel près du théâtre|livraison prévue après réception|facture réglée, reçu envoyé|crème brûlée et café noir",
    ),
    "de": Language(
        "western",
        WESTERN,
        "€",
        "Jürgen Müller|Jörg Schäfer|Björn Köhler|Käthe Groß|Günther Weiß|Sören Bähr|Ursula Fröhlich|Dörte Krüger|Lutz Böhm|Hannelore Jäger",
        "München|Köln|Düsseldorf|Lübeck|Görlitz|Nürnberg|Würzburg|Saarbrücken|Osnabrück|Zürich|Tübingen|Fürth",
        "Größe der Straße|Überprüfung der Daten|schöne Grüße aus München|die Bäume im Frühling|für alle Bürger|Kinosäle und Sitzplätze|Mädchen und Jungen|Öffnungszeiten am Wochenende|weiß und grün|die Häuser der Stadt|über den Fluss|Lieferung verzögert sich|Rückfrage beim Kunden|Äpfel, Birnen und Nüsse|Gebühren für Zustellung",
    ),
    "it": Language(
        "western",
        WESTERN,
        "€",
        "Niccolò Bellù|Caterina Pirandellò|Nicolò Zanè|Mattia Santoro|Chiara Cantù|Luca Forlì|Giulia Scarpà|Pietro Marchetti|Francesca Martì|Andrea Canalès",
        "Forlì|Cantù|Cefalù|Mondovì|Sant'Agata|Paternò|Lodè|Bologna|Napoli|Venezia|Agrigento|Cagliari",
        "perché è così|la città più bella|caffè e cornetto|la virtù del perù|università di Bologna|lunedì e martedì|però non è vero|un po' di tè|la libertà di parola|è già successo|qualità e quantità|attività del giorno|consegna entro venerdì|pagherà alla città|però è più caro",
    ),
    "nl": Language(
        "western",
        WESTERN,
        "€",
        "Joëlle de Vries|Chloë Jansen|Noël Bakker|René Visser|Daniëlle Smit|Zoë Mulder|André de Boer|Ineke Dekker|Geneviève Bos|Mariëlle Vos",
        "Utrecht|Groningen|Zwolle|Eindhoven|Schiedam|Düren|Leeuwarden|Hoensbroek|Lüttich|Delft|Tilburg|Brussel",
        "één keer per week|de ruïne van het kasteel|ideeën voor de zomer|coördinatie van het werk|naïef en eerlijk|het café aan de gracht|België en Nederland|een privé gesprek|financiële gegevens|reünie met vrienden|een geïnteresseerde lezer|levering op maandag|zeeën en rivieren|creëer een nieuw account",
    ),
    "da": Language(
        "western",
        WESTERN,
        "kr.",
        "Søren Østergaard|Jørgen Kjær|Mette Bøgh|Åse Nørgaard|Bjørn Sørensen|Hanne Løvgren|Kåre Dæhlie|Ærø Jensen|Mads Brønd|Sørine Thøgersen",
        "Øresund|Ærø|Århus|Ålborg|Køge|Næstved|Helsingør|Rønne|Sønderborg|Tårnby|Frederikshavn|Holstebro",
        "smørrebrød og øl|på gensyn i København|blåbær og jordbær|søster og bror|træet i haven|høst og forår|møde på kontoret|grønne skove og blå søer|levering på fredag|kunden ønsker en kvittering|betaling modtaget|færgen til Ærø",
    ),
    "no": Language(
        "western",
        WESTERN,
        "kr",
        "Ørjan Håland|Kjærsti Bø|Øystein Sæther|Åsmund Løken|Trygve Strøm|Solveig Ødegård|Bjørg Nærø|Håkon Dæhli|Marit Gjørv|Synnøve Ås",
        "Tromsø|Bodø|Førde|Ålesund|Lillehammer|Sørumsand|Kristiansand|Hønefoss|Fauske|Molde|Bærum|Drøbak",
        "god morgen fra Tromsø|vi sees på søndag|kjøpt på nettbutikken|på tide å reise hjem|været er fint i dag|høstferie på hytta|bestilling mottatt|levering på fjellet|grønnsaker og frukt|sjøen er stille i kveld|skjønt at du kom|kunden ønsker å betale senere",
    ),
    "sv": Language(
        "western",
        WESTERN,
        "kr",
        "Åsa Löfgren|Björn Åkesson|Märta Öberg|Göran Ström|Kärstin Näslund|Sören Ljungström|Pär Hägg|Linnéa Ågren|Örjan Fält|Jönsson Ängel",
        "Göteborg|Malmö|Västerås|Örebro|Linköping|Jönköping|Norrköping|Umeå|Gävle|Borås|Luleå|Södertälje",
        "vi ses på måndag|smörgås och kaffe|det är kallt ute|många tack för hjälpen|leverans nästa vecka|fakturan är betald|köp två, betala för en|röda stugor vid sjön|älgen går över vägen|trädgården blommar|mötet flyttas till fredag|beställning mottagen",
    ),
    "is": Language(
        "western",
        WESTERN,
        "kr.",
        "Guðrún Jónsdóttir|Sigurður Þórsson|Björk Guðmundsdóttir|Ólafur Ragnarsson|Þóra Árnadóttir|Hólmfríður Sæmundsdóttir|Gísli Þórðarson|Ásdís Hjálmarsdóttir|Ragnhildur Ævarsdóttir|Jón Þorláksson",
        "Reykjavík|Akureyri|Ísafjörður|Egilsstaðir|Hafnarfjörður|Kópavogur|Selfoss|Höfn|Húsavík|Vestmannaeyjar|Þingvellir|Sauðárkrókur",
        "góðan daginn|takk fyrir síðast|það er kalt í dag|hvað kostar þetta?|ég bý í Reykjavík|veðrið er gott|sendingin kemur á morgun|greiðsla móttekin|við sjáumst á föstudag|þjónustan var góð|fjöllin eru falleg|börnin leika sér úti",
    ),
    "fi": Language(
        "western",
        WESTERN,
        "€",
        "Jääskeläinen Päivi|Mäkelä Jyrki|Hämäläinen Sää|Närhi Tönö|Väisänen Äijä|Kärkkäinen Öhman|Pöllänen Jussi|Häkkinen Mika|Björklund Åsa|Šarapov Jussi",
        "Hämeenlinna|Jyväskylä|Mäntsälä|Äänekoski|Pännäinen|Seinäjoki|Kärsämäki|Ylöjärvi|Pyhäjärvi|Vöyri|Närpiö|Jämsä",
        "hyvää päivää|kiitos paljon|tilaus on lähetetty|säätiedotus huomiselle|mökillä järven rannalla|lämmin kesäpäivä|toimitus myöhästyy|lasku on maksettu|näkemiin ensi viikolla|pöytä ja tuolit|sähköposti lähetetty|työpäivä päättyy|šakki ja šekki",
    ),
    "ca": Language(
        "western",
        WESTERN,
        "€",
        "Jordi Puigdemont|Mercè Rodoreda|Núria Espert|Joan Miró|Pere Calders|Montserrat Caballé|Francesc Macià|Carme Ruscalleda|Lluís Companys|Àngels Barceló",
        "Lleida|Girona|Sant Cugat del Vallès|Vilanova i la Geltrú|Castelló|Figueres|Reus|Manresa|Olot|Vic|Tàrrega|Perpinyà",
        "bon dia a tothom|la plaça de la vila|l'ajuntament de Girona|què en penses?|col·lecció d'estiu|il·lusió i alegria|l'enviament arribarà dimarts|pagament rebut|una cançó per a tu|l'església de Sant Pere|bona nit i fins demà|la següent reunió",
    ),
    "pl": Language(
        "central",
        CENTRAL,
        "zł",
        "Władysław Żółkiewski|Małgorzata Wiśniewska|Łukasz Pietrzyk|Grzegorz Błaszczyk|Bożena Dąbrowska|Jędrzej Śliwa|Zdzisław Kołodziej|Agnieszka Wróbel|Krzysztof Żak|Ewa Łęcka",
        "Łódź|Gdańsk|Kraków|Wrocław|Poznań|Białystok|Częstochowa|Zielona Góra|Bielsko-Biała|Toruń|Rzeszów|Świnoujście",
        "zażółć gęślą jaźń|dzień dobry, proszę pana|książka leży na półce|pięć złotych|chłopiec i dziewczynka|źródło wiedzy|miłość i przyjaźń|ślub w kościele|przesyłka dotrze w piątek|płatność przyjęta|żółty liść na drzewie|spotkanie przełożone na środę",
    ),
    "cs": Language(
        "central",
        CENTRAL,
        "Kč",
        "Jiří Dvořák|Růžena Nováková|Přemysl Černý|Kateřina Šťastná|Bořivoj Hájek|Věra Čermáková|Tomáš Řezníček|Zdeněk Ševčík|Jaroslava Kořínková|Ondřej Žižka",
        "Brno|České Budějovice|Plzeň|Ústí nad Labem|Hradec Králové|Třebíč|Olomouc|Děčín|Přerov|Jihlava|Kroměříž|Český Krumlov",
        "příliš žluťoučký kůň úpěl ďábelské ódy|čtvrtek a pátek|řeka Vltava teče městem|hrad a zámek na kopci|děti si hrají na zahradě|večeře u babičky|dobrý den, jak se máte?|šťastný nový rok|zásilka dorazí v úterý|platba přijata|objednávka vyřízena|schůzka se přesouvá na středu",
    ),
    "sk": Language(
        "central",
        CENTRAL,
        "€",
        "Ľudovít Štúr|Ľubomír Ďurčo|Zuzana Kováčová|Ján Mrázik|Mária Šťastná|Ondrej Ľupták|Dušan Kňažko|Katarína Hlaváčová|Peter Ďuriš|Žofia Čapková",
        "Žilina|Košice|Banská Bystrica|Prešov|Trenčín|Nové Zámky|Ružomberok|Poprad|Piešťany|Lučenec|Levoča|Spišská Nová Ves",
        "ľadový čaj a káva|ďakujem veľmi pekne|päť dní v týždni|kôň na lúke|štúdium na univerzite|mäso a zelenina|dlhý deň v Žiline|ľudia v meste|čítanie kníh|vŕba pri potoku|zásielka príde v piatok|platba prijatá",
    ),
    "hu": Language(
        "central",
        CENTRAL,
        "Ft",
        "Szőke Gábor|Kovács Éva|Tóth Ildikó|Nagy Ödön|Fűzi Zsófia|Kőrösi Ágnes|Szűcs Péter|Bíró Tünde|Győri Lőrinc|Vörös Erzsébet",
        "Győr|Pécs|Székesfehérvár|Kecskemét|Nyíregyháza|Szombathely|Hódmezővásárhely|Tatabánya|Békéscsaba|Érd|Sopron|Szekszárd",
        "árvíztűrő tükörfúrógép|őszi szél fúj|köszönöm szépen|gyönyörű időjárás|a főváros Budapest|tűzoltó és rendőr|hétfő és kedd|csütörtök délután|szőlő és körte|öt üveg bor|a csomag pénteken érkezik|fizetés beérkezett",
    ),
    "ro": Language(
        "central",
        CENTRAL,
        "lei",
        "Ştefan Pătraşcu|Ioana Mureşan|Răzvan Ţurcanu|Mădălina Şerban|Bogdan Bălănescu|Anişoara Ţepeş|Mihai Grigoraş|Cătălina Dumitraşcu|Florin Băsescu|Teodora Păun",
        "Iaşi|Bucureşti|Timişoara|Braşov|Piteşti|Constanţa|Târgu Mureş|Galaţi|Călăraşi|Bacău|Botoşani|Râmnicu Vâlcea",
        "ţară şi oraş|mulţumesc frumos|pâine şi brânză|învăţământ superior|şcoala din Iaşi|bună ziua, ce faceţi?|zăpadă în munţi|fraţi şi surori|viaţa la ţară|coletul soseşte vineri|plata a fost înregistrată|întâlnirea se mută joi",
    ),
    "hr": Language(
        "central",
        CENTRAL,
        "€",
        "Đurđa Kovačević|Mladen Šimić|Željko Horvat|Ivana Čačić|Dražen Petrović|Snježana Ćosić|Goran Đurić|Tihomir Žužul|Višnja Babić|Božidar Grgić",
        "Šibenik|Zagreb|Split|Čakovec|Osijek|Požega|Dubrovnik|Karlovac|Vukovar|Đakovo|Bjelovar|Koprivnica",
        "đak u školi|čaj i kava|žuta kuća na brdu|ćevapi i ražnjići|lijepa naša domovina|dobar dan, kako ste?|noćni život u Zagrebu|učiteljica i đaci|šuma i polje|čovjek i žena|pošiljka stiže u petak|plaćanje primljeno",
    ),
    "sl": Language(
        "central",
        CENTRAL,
        "€",
        "Janez Čebulj|Mojca Šušteršič|Boštjan Žagar|Tanja Kožuh|Matjaž Šinkovec|Urška Čuk|Primož Ažman|Nataša Jerič|Aleš Žnidaršič|Špela Šmid",
        "Ljubljana|Maribor|Celje|Kranj|Koper|Novo mesto|Škofja Loka|Murska Sobota|Žalec|Črnomelj|Ptuj|Šentjur",
        "dober dan, kako ste?|hvala lepa|pošiljka pride v petek|plačilo prejeto|čaj in kava|šola in učitelji|življenje na vasi|žito na polju|sestanek je prestavljen na četrtek|lepo vreme ob morju|čudovit razgled|večerja pri babici",
    ),
    "lt": Language(
        "baltic",
        ("cp1257",),
        "€",
        "Jonas Žukauskas|Ona Kazlauskienė|Mindaugas Šimkus|Rūta Petrauskaitė|Vytautas Čepulis|Aušra Jankauskienė|Kęstutis Bagdonas|Eglė Žemaitytė|Giedrius Šukys|Dalia Grybauskaitė",
        "Vilnius|Kaunas|Klaipėda|Šiauliai|Panevėžys|Alytus|Marijampolė|Mažeikiai|Utena|Kėdainiai|Telšiai|Tauragė",
        "ąžuolas ir šermukšnis|ačiū labai|šiandien šilta diena|žmonės ir gyvūnai|mėlynas dangus|ūkininkas ir jo žemė|graži šalis|įdomi knyga|siunta atvyks penktadienį|mokėjimas gautas|susitikimas perkeltas į ketvirtadienį|vyšnios ir obuoliai",
    ),
    "lv": Language(
        "baltic",
        ("cp1257",),
        "€",
        "Jānis Bērziņš|Līga Kalniņa|Andris Ozoliņš|Ilze Liepiņa|Kārlis Krūmiņš|Dace Zariņa|Māris Vītols|Inese Ābele|Guntis Šteins|Sandra Ķēniņa",
        "Rīga|Jūrmala|Daugavpils|Liepāja|Jelgava|Ventspils|Rēzekne|Valmiera|Jēkabpils|Ogre|Tukums|Cēsis",
        "paldies ļoti|ķēniņš un ķēniņiene|zaļš mežs|skaista dziesma|šodien ir silts|ģimene un draugi|ābols un bumbieris|mūzika un dejas|ūdens un gaiss|sūtījums pienāks piektdien|maksājums saņemts|tikšanās pārcelta uz ceturtdienu",
    ),
    "et": Language(
        "baltic",
        ("cp1257",),
        "€",
        "Jüri Rätsep|Mari Põder|Tõnu Õunapuu|Kädi Sööt|Märt Jõgi|Ülle Mägi|Peeter Šmidt|Siiri Kõiv|Tiit Pärn|Kärt Lõhmus",
        "Tallinn|Tartu|Pärnu|Narva|Kohtla-Järve|Võru|Jõhvi|Põlva|Rakvere|Viljandi|Kärdla|Türi",
        "tänan väga|ööbik laulab öösel|jõgi ja järv|õun ja pirn|küla ja linn|sõbrad ja pere|hüvasti, head aega|päike paistab|mägi ja org|õpetaja ja õpilane|saadetis saabub reedel|makse on kätte saadud",
    ),
    "ru": Language(
        "cyrillic",
        ("cp1251", "koi8-r"),
        "руб.",
        "Иван Петров|Ольга Смирнова|Сергей Кузнецов|Наталья Попова|Алексей Соколов|Татьяна Лебедева|Дмитрий Козлов|Елена Новикова|Михаил Морозов|Юлия Волкова",
        "Москва|Санкт-Петербург|Новосибирск|Екатеринбург|Нижний Новгород|Казань|Челябинск|Самара|Ростов-на-Дону|Уфа|Красноярск|Пермь",
        "Москва слезам не верит|добрый день, как дела?|ёлка и снегурочка|библиотека и школа|съёмка фильма|журнал и газета|хороший человек|объявление о продаже|заказ отправлен в пятницу|оплата получена|встреча перенесена на четверг|доставка до двери",
    ),
    "uk": Language(
        "cyrillic",
        ("cp1251", "koi8-u"),
        "грн",
        "Олександр Шевченко|Оксана Коваленко|Ігор Бондаренко|Юлія Ткаченко|Євген Кравченко|Ірина Олійник|Богдан Мельник|Галина Ґудзь|Сергій Лисенко|Марія Їжакевич",
        "Київ|Львів|Харків|Одеса|Дніпро|Запоріжжя|Івано-Франківськ|Житомир|Чернігів|Ужгород|Рівне|Тернопіль",
        "добрий день|їжак і ґава|Україна та Європа|щастя і любов|зимовий вечір|вишня і яблуко|замовлення відправлено у п'ятницю|оплату отримано|зустріч перенесено на четвер|доставка до дверей|дякую за покупку|їхня сім'я",
    ),
    "bg": Language(
        "cyrillic",
        ("cp1251", "koi8-r"),
        "лв.",
        "Георги Иванов|Мария Петрова|Димитър Димитров|Йорданка Николова|Стоян Георгиев|Цветанка Стоянова|Христо Тодоров|Радка Христова|Ивайло Колев|Живка Ангелова",
        "София|Пловдив|Варна|Бургас|Русе|Стара Загора|Плевен|Сливен|Добрич|Шумен|Перник|Хасково",
        "добър ден|благодаря много|хубава книга|щастлив човек|ъгъл на улицата|река Дунав|планина Рила|ябълка и круша|поръчката е изпратена в петък|плащането е получено|срещата е преместена за четвъртък|доставка до вратата",
    ),
    "el": Language(
        "greek",
        ("cp1253",),
        "€",
        "Γιώργος Παπαδόπουλος|Μαρία Κωνσταντίνου|Νίκος Γεωργίου|Ελένη Δημητρίου|Κώστας Ιωάννου|Σοφία Νικολάου|Δημήτρης Οικονόμου|Αικατερίνη Μακρή|Παναγιώτης Αθανασίου|Άννα Βασιλείου",
        "Αθήνα|Θεσσαλονίκη|Πάτρα|Ηράκλειο|Λάρισα|Βόλος|Ιωάννινα|Χανιά|Καβάλα|Ρόδος|Κέρκυρα|Άργος",
        "Καλημέρα σας|ευχαριστώ πολύ|η θάλασσα είναι γαλάζια|καλό ταξίδι|ψωμί και τυρί|ο ήλιος λάμπει|το σπίτι μου|φίλοι και οικογένεια|η παραγγελία στάλθηκε την Παρασκευή|η πληρωμή ελήφθη|η συνάντηση μετατέθηκε για την Πέμπτη|παράδοση στην πόρτα",
    ),
    "tr": Language(
        "turkish",
        ("cp1254",),
        "TL",
        "Ahmet Yılmaz|Ayşe Kaya|Mehmet Öztürk|Fatma Çelik|Mustafa Şahin|Emine Doğan|Hüseyin Aydın|Zeynep Arslan|İbrahim Güneş|Gülşen Koç",
        "İstanbul|Ankara|İzmir|Eskişehir|Muğla|Çanakkale|Şanlıurfa|Diyarbakır|Kırşehir|Gümüşhane|Ağrı|Düzce",
        "Türkiye Cumhuriyeti|güzel bir gün|çay ve kahve|öğrenci ve öğretmen|şehir merkezi|ılık bir rüzgâr|çok teşekkür ederim|ağaç ve çiçek|kış geldi, hava soğuk|yağmur yağıyor|sipariş cuma günü gönderildi|ödeme alındı",
    ),
}


def _mix(group: str, codecs: tuple[str, ...], members: tuple[str, ...]) -> Language:
    """One language's worth of lists drawn from several: a customer list of a multinational firm, the
    case that ties charset-normalizer and that single-language files never show."""
    specs = [LANGUAGES[member] for member in members]
    fields = [("|".join(getattr(spec, field) for spec in specs)) for field in ("names", "places", "phrases")]
    return Language(group, codecs, "€", *fields)


WESTERN_LANGUAGES = ("pt", "es", "fr", "de", "it", "nl", "da", "no", "sv", "is", "fi", "ca")
CENTRAL_LANGUAGES = ("pl", "cs", "sk", "hu", "ro", "hr", "sl")
LANGUAGES["western-mix"] = _mix("western mix", WESTERN, WESTERN_LANGUAGES)
LANGUAGES["central-mix"] = _mix("central mix", CENTRAL, CENTRAL_LANGUAGES)
LANGUAGES["baltic-mix"] = _mix("baltic mix", ("cp1257",), ("lt", "lv", "et"))

ASCII_CODES = ("A", "B", "C", "X", "K", "M", "P", "R")


def writable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _items(field: str, codec: str) -> list[str]:
    return [item for item in field.split("|") if writable(item, codec)]


def generate(lang: str, codec: str, size: int, seed: int) -> str:
    """CSV text of at most `size` bytes in `codec` (at least one data row): rows of an id, a name, a place,
    a date, an amount and a note, drawn from the language's lists with a seeded RNG."""
    spec = LANGUAGES[lang]
    rng = random.Random(f"{lang}/{codec}/{size}/{seed}")
    names, places, phrases = (_items(field, codec) for field in (spec.names, spec.places, spec.phrases))
    currency = spec.currency if writable(spec.currency, codec) else "EUR"
    lines = ["id;name;city;date;amount;note"]
    used = len(lines[0]) + 1
    while True:
        amount = f"{rng.randrange(1, 10**6) / 100:.2f}".replace(".", ",")
        note = " ".join(rng.choice(phrases) for _ in range(rng.randrange(0, 3)))
        code = f"{rng.choice(ASCII_CODES)}-{rng.randrange(10**5):05d}"
        date = f"20{rng.randrange(10, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        row = f"{code};{rng.choice(names)};{rng.choice(places)};{date};{amount} {currency};{note}"
        # Single-byte code pages: one character is one byte. A row that does not fit ends the file, or,
        # while the file has no row yet, is drawn again (a 200-byte file has room for one or two).
        if used + len(row) + 1 > size:
            if len(lines) > 1:
                return "\n".join(lines) + "\n"
            continue
        lines.append(row)
        used += len(row) + 1


def cases(seeds: int, small_per_group: int = 0) -> list[tuple[str, str, str, int, int]]:
    """(group, language, codec, size, seed) for every language x codec x size x seed. At 200 B every group
    gets at least `small_per_group` files, spread over its languages and code pages: with 8 files one miss
    is 12.5%, so a 98% target needs ~100 files per group to mean anything."""
    combos = [(spec.group, lang, codec) for lang, spec in LANGUAGES.items() for codec in spec.codecs]
    per_group: dict[str, int] = {}
    for group, _, _ in combos:
        per_group[group] = per_group.get(group, 0) + 1
    return [
        (group, lang, codec, size, seed)
        for group, lang, codec in combos
        for size in SIZES
        for seed in range(max(seeds, -(-small_per_group // per_group[group])) if size == SIZES[0] else seeds)
    ]


def correct(data: bytes, text: str, detected: str) -> bool:
    """The detected code page decodes the bytes to the text written (equivalent code pages count)."""
    try:
        return data.decode(detected) == text
    except (UnicodeDecodeError, LookupError):
        return False
